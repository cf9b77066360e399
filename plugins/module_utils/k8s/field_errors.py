# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation that reports every problem at once, each with its field path."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


class FieldError(object):
    def __init__(self, path, message):
        self.path = path
        self.message = message

    def __str__(self):
        return "%s: %s" % (self.path, self.message) if self.path else self.message

    def __repr__(self):
        return "FieldError(%r, %r)" % (self.path, self.message)


class ValidationError(Exception):
    """Raised by planners before any write; ``errors`` holds every FieldError found."""

    def __init__(self, errors):
        self.errors = list(errors)
        super(ValidationError, self).__init__("; ".join(str(e) for e in self.errors))


class FieldErrors(object):
    """Collects problems; ``raise_if_any`` turns them into one ValidationError."""

    def __init__(self):
        self.errors = []

    def add(self, path, message, *args):
        self.errors.append(FieldError(path, message % args if args else message))

    def __bool__(self):
        return bool(self.errors)

    __nonzero__ = __bool__

    def raise_if_any(self):
        if self.errors:
            raise ValidationError(self.errors)

    def check_dns_label(self, path, value):
        if not isinstance(value, str) or len(value) > 63 or not DNS1123_LABEL.match(value):
            self.add(path, "%r is not a valid DNS-1123 label (lower-case letters, digits and "
                     "'-', starting and ending with a letter or digit, at most 63 characters)",
                     value)
            return False
        return True

    def check_dns_subdomain(self, path, value):
        if not isinstance(value, str) or len(value) > 253 or not DNS1123_SUBDOMAIN.match(value):
            self.add(path, "%r is not a valid DNS-1123 subdomain", value)
            return False
        return True

    def check_label_value(self, path, value):
        if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.match(value):
            self.add(path, "%r is not a valid label value (at most 63 characters: letters, "
                     "digits, '-', '_', '.', starting and ending with a letter or digit)", value)
            return False
        return True
