"""``python -m benchmarks.ab``: each performance lever measured A/B in one run."""

import sys

from ._suite import ab

sys.exit(ab())
