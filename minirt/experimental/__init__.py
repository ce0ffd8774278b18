"""Features that Ray keeps under ``ray.experimental``, under the same names.

``minirt.experimental.tqdm_ray.tqdm``: progress bars made inside tasks and
actors, drawn once in the driver.
"""

import sys

from ..util import tqdm_ray

# The code lives in minirt/util/tqdm_ray.py (an add-on); Ray's import path
# `minirt.experimental.tqdm_ray` names the same module.
sys.modules[__name__ + ".tqdm_ray"] = tqdm_ray

__all__ = ["tqdm_ray"]
