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

.PHONY: install deps quickstart test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml training/install_horovod.sh
	bash .ci/install.sh "$(PYTHON)" "$(VENV)"
	touch $(STAMP)

deps:
	bash .ci/system-deps.sh

quickstart: install
	$(VENV)/bin/rejoinder up -f examples/quickstart.yaml

test: install
	$(PY) -m pytest -ra

clean:
	rm -rf $(VENV) .pytest_cache
