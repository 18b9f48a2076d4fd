"""``python -m benchmarks.lag``: the event-loop lag cases alone (``results/lag.md``)."""

import sys

from ._suite import lag

sys.exit(lag())
