"""``python -m minirt``: the command line (``minirt status``, ``list``, ``logs``...).

See :mod:`minirt.util.cli` for the commands.
"""

import sys

from minirt.util.cli import main

if __name__ == "__main__":
    sys.exit(main())
