#!/usr/bin/env bash
# Try the pack in a real ComfyUI without installing one:
#   bash tests/serve.sh --models DIR [--port 8188] [--cpu]
# Sets up the same environment as tests/run.sh (tests/env.sh; the first time downloads torch, ComfyUI
# 0.3.75 and its frontend), then starts ComfyUI on http://127.0.0.1:8188 with this pack, using DIR as its
# models folder (see tests/comfy_host/serve.py). Ctrl+C stops it.
set -euo pipefail
export PT_CALLER_DIR="$PWD"
cd "$(dirname "$0")/.."
# shellcheck source=tests/env.sh
source tests/env.sh
pt_setup_env
exec "$PY" tests/comfy_host/serve.py "$@"
