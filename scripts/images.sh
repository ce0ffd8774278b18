#!/usr/bin/env bash
# Regenerate every picture under images/ from real runs of minirt.
# Usage (from the repository root):  bash scripts/images.sh [granularity|timeline|walkthrough|architecture ...]
# Needs the project's .venv (bash scripts/setup.sh) and Debian's chromium + chromium-driver
# (Bokeh's export_png drives a headless Chromium; see util/plots.py save_png).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PY="$ROOT/.venv/bin/python"
if [ ! -x "$PY" ]; then
    echo "images: $PY not found; run 'bash scripts/setup.sh' first" >&2
    exit 1
fi
for exe in /usr/bin/chromium /usr/bin/chromedriver; do
    if [ ! -x "$exe" ]; then
        echo "images: $exe not found; install it with: apt-get install -y chromium chromium-driver" >&2
        exit 1
    fi
done

"$PY" scripts/make_images.py "$@"
ls -l images/*.png
