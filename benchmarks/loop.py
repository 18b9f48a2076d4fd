"""``python -m benchmarks.loop``: where an asyncio loop iteration's time goes during an upload."""

import sys

from ._loop import main

sys.exit(main())
