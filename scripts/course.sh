#!/usr/bin/env bash
# Set up .venv (see scripts/setup.sh), then open the course in JupyterLab.
# JupyterLab starts in the repository root, so its file browser shows
# lessons/ and solutions/; the overview lesson opens first.
# Extra arguments go to `jupyter lab` (e.g. --no-browser, --port=8899).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh

args=()
if [ "$(id -u)" = 0 ]; then
    args+=(--allow-root)   # JupyterLab refuses to run as root without it
fi
# root_dir is set explicitly: given only a file, JupyterLab would serve just its folder.
exec "$ROOT/.venv/bin/jupyter" lab --ServerApp.root_dir="$ROOT" "${args[@]}" "$@" lessons/00_overview.ipynb
