#!/usr/bin/env bash
# Create the virtualenv exactly as uv.lock says (.ci/lock.py sync: uv itself from the lock's
# hashes, then the build tools, then every extra and the dev tools), build the patched Horovod
# into it (training/install_horovod.sh, cached wheel), and check that what is installed is what
# the lock pins: a later release on PyPI changes nothing until the lock is updated on purpose
# (`make lock`). YouTokenToMe (whose setup imports Cython undeclared) and rejoinder itself are
# built with the lock's setuptools and Cython, never with whatever a build isolation would fetch.
set -euo pipefail
# The repository root holds `operator/`, which would shadow the standard library's `operator`
# for any `python -m ...` started here (Python puts the working directory first on sys.path).
# PYTHONSAFEPATH (Python 3.11+) keeps the working directory off sys.path.
export PYTHONSAFEPATH=1
PYTHON=${1:-python3.11}
VENV=${2:-.venv}
PYTHON="$PYTHON" "$PYTHON" .ci/lock.py sync "$VENV"
bash training/install_horovod.sh "$VENV/bin/python"
"$VENV/bin/python" .ci/lock.py check "$VENV"
