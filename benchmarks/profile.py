"""``python -m benchmarks.profile``: where a bulk upload's CPU goes, and each layer's cost."""

import sys

from ._profile import main

sys.exit(main())
