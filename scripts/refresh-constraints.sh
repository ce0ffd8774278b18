#!/usr/bin/env bash
# Move the pins in constraints.txt to the newest versions -- but only if every test
# passes with them.
#
#   bash scripts/refresh-constraints.sh            # test with the newest versions, then pin them
#   bash scripts/refresh-constraints.sh -k serial  # extra arguments go to pytest
#
# It runs `MINIRT_LATEST=1 bash scripts/test.sh` (a separate .venv-latest with the
# newest release of every dependency). If that run is green, constraints.txt is
# rewritten from `pip freeze` of .venv-latest; if it is red, constraints.txt is left
# alone and the failures show what an upgrade would break. Commit the new file.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if ! MINIRT_LATEST=1 SETUP_FORCE=1 bash scripts/test.sh "$@"; then
    echo "refresh-constraints: tests failed with the newest versions; constraints.txt unchanged" >&2
    exit 1
fi
bash scripts/freeze-constraints.sh "$ROOT/.venv-latest"
