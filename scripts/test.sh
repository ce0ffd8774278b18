#!/usr/bin/env bash
# Set up .venv, make sure headless Chromium is there, then run every test in ONE
# pytest run:
#   tests/                      unit tests (runtime, util), link checker, browser test
#   lessons/ and solutions/     every notebook re-run and its outputs compared
#                               strictly with nbval (timings, ids and pids are
#                               masked by tests/nbval_sanitize.cfg; Bokeh's
#                               random-id outputs are skipped by ./conftest.py)
# Extra arguments go to pytest (e.g. -k links, -x, -m "not browser").
# MINIRT_LATEST=1 runs everything against the newest versions of every dependency
# (in .venv-latest) instead of the pinned ones in constraints.txt.
# pytest's exit code is passed on as is: 5 ("no tests collected") fails too.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh
VENV="$ROOT/.venv"
if [ "${MINIRT_LATEST:-0}" = 1 ]; then
    VENV="$ROOT/.venv-latest"
fi

# The browser tests and util.plots.save_png use Debian's Chromium and ChromeDriver
# (a browser download by Playwright or Selenium does not work offline).
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test: installing chromium and chromium-driver with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        apt-get install -y -q --no-install-recommends chromium chromium-driver
    else
        echo "test: /usr/bin/chromium or /usr/bin/chromedriver is missing and this is not root:" \
             "browser tests will be skipped (install Debian's chromium and chromium-driver)" >&2
    fi
fi

paths=(tests)
for d in lessons solutions; do
    # Both folders are in the repository; the check only keeps a partial checkout testable.
    if compgen -G "$d/*.ipynb" >/dev/null; then
        paths+=("$d")
    fi
done

export JUPYTER_PLATFORM_DIRS=1   # the current Jupyter paths; silences a deprecation warning
export PYTHONDONTWRITEBYTECODE=1

# Every notebook on Ray (tests/test_on_ray.py::test_notebook_on_ray, marker ray_notebooks;
# 10-20 min on a busy 2-core machine, MINIRT_RAY_JOBS=2 notebooks at a time by default) is
# part of the run (issue #11): the course must run on Ray as it does on minirt, and all 23
# notebooks passed there in three full runs in a row. MINIRT_RAY_NOTEBOOKS=0 leaves it out
# (e.g. for a quick run while editing a lesson).
select=()
if [ "${MINIRT_RAY_NOTEBOOKS:-1}" = 0 ]; then
    select=(-m "not ray_notebooks")
fi

exec "$VENV/bin/python" -m pytest "${select[@]}" -p no:cacheprovider -ra \
    --nbval --nbval-current-env \
    --nbval-sanitize-with tests/nbval_sanitize.cfg \
    "${paths[@]}" "$@"
