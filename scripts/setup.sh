#!/usr/bin/env bash
# Create (or refresh) the project's virtualenv and install minirt in editable mode
# with the course and test extras.
#
# Pinned by default: pip installs with `-c constraints.txt`, the exact versions of
# every package with which CI was last green, so a new upstream release cannot
# turn main red overnight. Two switches:
#
#   MINIRT_LATEST=1   use the newest versions instead (no constraints), in a
#                     separate venv, .venv-latest, so the pinned one is untouched.
#                     `MINIRT_LATEST=1 bash scripts/test.sh` runs every test
#                     against them: drift is seen early, not by learners.
#   SETUP_FORCE=1     reinstall even if nothing changed.
#
# Refreshing the pins (README, "Keeping the pins fresh"):
#   bash scripts/refresh-constraints.sh
#
# Idempotent: an existing venv is reused, and the pip step is skipped when
# pyproject.toml and constraints.txt have not changed since the last successful
# install and minirt imports from the venv. Nothing is installed outside the
# repository (no global Jupyter kernel: JupyterLab started from the venv runs
# notebooks with the venv's own python3 kernel).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3}"
if [ "${MINIRT_LATEST:-0}" = 1 ]; then
    VENV="$ROOT/.venv-latest"
    constraints=()
    mode="newest versions, no constraints"
else
    VENV="$ROOT/.venv"
    constraints=(-c "$ROOT/constraints.txt")
    mode="versions pinned by constraints.txt"
fi
STAMP="$VENV/.minirt-setup-stamp"

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi

want="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)-${MINIRT_LATEST:-0}"
have="$(cat "$STAMP" 2>/dev/null || true)"
installed_ok() {
    # Run from / so that the repo folder on sys.path cannot fake the import.
    if [ -d "$ROOT/minirt" ]; then
        (cd / && "$VENV/bin/python" -c 'import minirt' >/dev/null 2>&1) || return 1
    fi
    return 0
}

if [ "${SETUP_FORCE:-0}" != 1 ] && [ "$want" = "$have" ] && installed_ok; then
    echo "setup: $VENV is up to date ($mode)"
else
    echo "setup: installing minirt (editable) with the course and test extras ($mode)"
    rm -f "$STAMP"
    pip_install=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
    if [ "${MINIRT_LATEST:-0}" = 1 ]; then
        pip_install+=(--upgrade --upgrade-strategy eager)
    fi
    "${pip_install[@]}" "${constraints[@]}" --upgrade pip
    "${pip_install[@]}" "${constraints[@]}" -e '.[course,test]'
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
