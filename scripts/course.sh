#!/usr/bin/env bash
# Set up .venv (see scripts/setup.sh), then open the course in JupyterLab.
# JupyterLab starts in the repository root, so its file browser shows lessons/ and
# solutions/. Its default URL is the overview lesson itself: the browser opens there,
# and on a machine without a browser the URL that JupyterLab prints opens it too.
# Extra arguments go to `jupyter lab`, e.g. `--no-browser --port=8899` on a remote or
# headless machine (then open the printed http://127.0.0.1:8899/lab/tree/... URL).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh

args=(--ServerApp.root_dir="$ROOT" --LabApp.default_url=/lab/tree/lessons/00_overview.ipynb)
if [ "$(id -u)" = 0 ]; then
    args+=(--allow-root)   # JupyterLab refuses to run as root without it
fi
echo "course: starting JupyterLab; open the URL it prints below (it opens lesson 00)"
exec "$ROOT/.venv/bin/jupyter" lab "${args[@]}" "$@"
