"""Features that Ray keeps under ``ray.experimental``, under the same names.

``minirt.experimental.tqdm_ray.tqdm``: progress bars made inside tasks and
actors, drawn once in the driver.
"""

from . import tqdm_ray

__all__ = ["tqdm_ray"]
