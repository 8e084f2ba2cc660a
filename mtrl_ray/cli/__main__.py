"""`python -m mtrl_ray.cli ...`: the `rllib` command."""

import sys

from mtrl_ray.cli import main

if __name__ == "__main__":
    sys.exit(main())
