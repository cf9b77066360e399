# progressive.delivery: the demo and the whole test suite, on the local testbed.
#   make demo   - bring up the testbed and run a blue/green release on it
#   make test   - unit and integration tests, Molecule, the built tarball and execution
#                 environment, the floor versions, ansible-lint, changelog lint, sanity
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
TESTBED := $(PY) tests/testbed/testbed.py
WITH ?= contour,gateway,knative
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export KUBECONFIG := $(or $(PD_TESTBED_DIR),$(CURDIR)/.testbed)/kubeconfig
export K8S_AUTH_KUBECONFIG := $(KUBECONFIG)
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/build
export ANSIBLE_NOCOLOR := 1
export NO_COLOR := 1

.PHONY: bootstrap up down demo test unit integration molecule lint sanity bench artifact ee floor

bootstrap:
	@bash scripts/bootstrap.sh

up: bootstrap
	@$(TESTBED) up --with $(WITH)

down:
	@$(TESTBED) down

demo: up
	ansible-playbook playbooks/demo.yml

test: up
	@bash scripts/run_tests.sh

unit: bootstrap
	$(PY) -m pytest tests/unit -q

integration: up
	$(PY) -m pytest tests/integration -q

molecule: up
	@bash scripts/run_molecule.sh

lint: bootstrap
	ansible-lint --profile production
	antsibull-changelog lint

sanity: bootstrap
	@bash scripts/run_sanity.sh

bench: up
	$(PY) tests/bench/wait_latency.py
	$(PY) tests/bench/run.py $(if $(BENCH_RUNS),--runs $(BENCH_RUNS)) $(if $(BENCH_QUICK),--quick)

artifact: up
	@bash scripts/run_artifact.sh

ee: bootstrap
	@bash scripts/run_ee.sh

floor: up
	@bash scripts/run_floor.sh
