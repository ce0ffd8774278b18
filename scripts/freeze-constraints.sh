#!/usr/bin/env bash
# Write constraints.txt from the packages installed in a venv (default: .venv).
# Used by refresh-constraints.sh after a green run; run it by hand only on a venv
# whose full test run you have just seen pass.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv}"
{
    echo "# Exact versions with which 'bash scripts/test.sh' last passed in full."
    echo "# scripts/setup.sh installs with 'pip install -c constraints.txt'."
    echo "# Refresh with 'bash scripts/refresh-constraints.sh' (see README)."
    echo "# Python $("$VENV/bin/python" -c 'import platform; print(platform.python_version())'), written $(date -u +%Y-%m-%d)."
    # minirt itself (the editable install) is not pinned.
    "$VENV/bin/python" -m pip freeze --all --disable-pip-version-check --exclude-editable \
        | grep -v -i -E '^(minirt)([ =@]|$)' | LC_ALL=C sort -f
} > "$ROOT/constraints.txt.tmp"
mv "$ROOT/constraints.txt.tmp" "$ROOT/constraints.txt"
echo "freeze-constraints: wrote $(grep -c '==' "$ROOT/constraints.txt") pins to constraints.txt"
