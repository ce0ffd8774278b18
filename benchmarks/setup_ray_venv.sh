#!/usr/bin/env bash
# Create a separate virtualenv with Ray 2.60 for benchmarks/bench.py.
# Ray is never a dependency of minirt: the benchmark runs Ray's rounds with this
# venv's interpreter (bench.py --ray-python PATH; default /tmp/rayvenv/bin/python).
#
#   bash benchmarks/setup_ray_venv.sh [VENV_DIR]      # default: /tmp/rayvenv
#
# Idempotent: an existing venv that already imports ray 2.60.0 is left alone.
set -euo pipefail

VENV="${1:-/tmp/rayvenv}"
PYTHON="${PYTHON:-python3}"
RAY_VERSION="2.60.0"

if [ -x "$VENV/bin/python" ] && \
   [ "$("$VENV/bin/python" -c 'import ray; print(ray.__version__)' 2>/dev/null)" = "$RAY_VERSION" ]; then
    echo "setup_ray_venv: $VENV already has ray $RAY_VERSION"
else
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "ray==$RAY_VERSION" numpy cloudpickle
fi
"$VENV/bin/python" -c 'import ray, numpy; print("setup_ray_venv: ready, ray", ray.__version__, "numpy", numpy.__version__)'
echo "run: .venv/bin/python benchmarks/bench.py --ray-python $VENV/bin/python"
