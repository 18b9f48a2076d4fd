"""``python -m benchmarks.rest``: the REST calls alone (1,000 at once on one client)."""

import sys

from ._suite import rest

sys.exit(rest())
