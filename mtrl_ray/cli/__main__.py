"""`python -m mtrl_ray.cli ...`: the `rllib` command."""

import sys

from mtrl_ray.cli import main

sys.exit(main())
