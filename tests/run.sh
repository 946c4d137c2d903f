#!/usr/bin/env bash
# The one test command (README.md, .ci/run): sets everything up from scratch, then runs all tests.
#   bash tests/run.sh [pytest arguments]
# Creates .venv (CPU torch 2.13.0 first, then the ComfyUI 0.3.75 host's requirements, the pack's
# requirements and the test extra), installs the host tree into .test-cache/, lints, and runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PIP_DISABLE_PIP_VERSION_CHECK=1

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
PY=.venv/bin/python
$PY -m pip install -q torch==2.13.0
$PY tests/comfy_host/host_install.py
test_extra=$($PY -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["test"]))')
$PY -m pip install -q -c tests/constraints.txt -r .test-cache/host-requirements.txt -r requirements.txt $test_extra
if $PY -m pip list 2>/dev/null | grep -qiE '^(nvidia-|cuda-)'; then
    echo "CUDA packages got into .venv; the torch pin was bypassed" >&2
    exit 1
fi

$PY -m ruff check .
$PY -m pytest "$@"
