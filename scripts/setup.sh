#!/usr/bin/env bash
# Create (or refresh) the project's virtualenv at <repo>/.venv and install minirt
# in editable mode with the course and test extras.
# Idempotent: an existing .venv is reused, and the pip step is skipped when
# pyproject.toml has not changed since the last successful install and minirt
# imports from the venv. Set SETUP_FORCE=1 to reinstall anyway.
# Nothing is installed outside the repository (no global Jupyter kernel:
# JupyterLab started from .venv runs notebooks with .venv's own python3 kernel).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
STAMP="$VENV/.minirt-setup-stamp"

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi

want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"
installed_ok() {
    # Run from / so that the repo folder on sys.path cannot fake the import.
    if [ -d "$ROOT/minirt" ]; then
        (cd / && "$VENV/bin/python" -c 'import minirt' >/dev/null 2>&1) || return 1
    fi
    return 0
}

if [ "${SETUP_FORCE:-0}" != 1 ] && [ "$want" = "$have" ] && installed_ok; then
    echo "setup: .venv is up to date"
else
    echo "setup: installing minirt (editable) with the course and test extras"
    rm -f "$STAMP"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[course,test]'
    echo "$want" > "$STAMP"
fi
# The course's JupyterLab settings live in the venv, so that `.venv/bin/jupyter lab` and
# scripts/course.sh both use them: no "Jupyter news" pop-up (and no update check), and
# build leftovers such as minirt.egg-info hidden from the file browser.
# (Server options go in jupyter_server_config.json: files in jupyter_server_config.d/ only
# enable extensions.)
mkdir -p "$VENV/share/jupyter/lab/settings" "$VENV/etc/jupyter"
cat > "$VENV/share/jupyter/lab/settings/overrides.json" <<'JSON'
{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}
JSON
cat > "$VENV/etc/jupyter/jupyter_server_config.json" <<'JSON'
{"ContentsManager": {"hide_globs": ["__pycache__", "*.pyc", "*.pyo", ".DS_Store", "*~", "*.egg-info"]}}
JSON
echo "setup: ready ($("$VENV/bin/python" --version) in $VENV)"
