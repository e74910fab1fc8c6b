# The two commands a newcomer needs (README): `make quickstart` and `make test`.
# Everything installs into ./.venv; nothing is needed on the machine beyond Python 3.11+, gcc
# and (for Horovod with MPI) Debian's libopenmpi-dev/openmpi-bin, which `make deps` installs
# when run as root on Debian/Ubuntu.

PYTHON ?= python3.11
# `operator/` in this directory would shadow the stdlib `operator` for `python -m` run here.
export PYTHONSAFEPATH := 1
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install deps quickstart test images bench clean lock

install: $(STAMP)

$(STAMP): pyproject.toml uv.lock .ci/lock.py .ci/install.sh training/install_horovod.sh
	bash .ci/install.sh "$(PYTHON)" "$(VENV)"
	touch $(STAMP)

deps:
	bash .ci/system-deps.sh

quickstart: install
	$(VENV)/bin/rejoinder up -f examples/quickstart.yaml

test: install
	$(PY) -m pytest -ra

# The three CPU images (docs/kubernetes.md): IMAGE_BASE=debian makes the base from Debian packages
# (no registry needed), IMAGE_BASE=python uses python:3.11.7-slim-bookworm; FLAVOUR=cuda for GPUs.
# chroot isolation: RUN steps work inside another container too (CI, these machines).
IMAGE_BASE ?= debian
FLAVOUR ?= cpu
images: install
	BUILDAH_ISOLATION=$${BUILDAH_ISOLATION:-chroot} bash images/build.sh --base $(IMAGE_BASE) --flavour $(FLAVOUR)

# Update dependencies on purpose: re-resolve uv.lock to today's newest releases that pyproject.toml
# allows, sync the virtualenv to it, and regenerate the gRPC stubs with the new grpcio-tools.
# Then run `make test` and commit uv.lock with the stubs.
lock: install
	$(PY) .ci/lock.py upgrade
	$(MAKE) install
	$(PY) -m rejoinder.modelserver.protos.generate

clean:
	rm -rf $(VENV) .pytest_cache
