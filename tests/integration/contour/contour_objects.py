"""Manifests for the Contour tests: seed 002's Services, child proxies and TLS Secret."""
import base64
import datetime
import uuid

from ansible_collections.progressive.delivery.plugins.module_utils.contour.proxies import (
    HTTPPROXY,
    INGRESSROUTE,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s.client import Resource

SECRET = Resource("v1", "Secret", "secrets", True)


def tls_secret_manifest(name, host):
    """A self-signed kubernetes.io/tls Secret (Contour parses the certificate)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(uuid.uuid4().int >> 64)
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(key, hashes.SHA256()))
    crt = cert.public_bytes(serialization.Encoding.PEM)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": name},
            "data": {"tls.crt": base64.b64encode(crt).decode(),
                     "tls.key": base64.b64encode(pem).decode()}}


def service_manifest(name, port=80):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name},
                     "ports": [{"name": "http", "port": port, "targetPort": 8080}]}}


def child_proxy(api, name, path, services):
    """A child proxy routing the delegated path to services (seed 002's blog / blog2)."""
    if api == "ingressroute":
        return {"apiVersion": INGRESSROUTE.api_version, "kind": "IngressRoute",
                "metadata": {"name": name},
                "spec": {"routes": [{"match": path, "services": services}]}}
    return {"apiVersion": HTTPPROXY.api_version, "kind": "HTTPProxy", "metadata": {"name": name},
            "spec": {"routes": [{"services": services}]}}
