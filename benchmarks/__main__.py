import sys

from ._suite import main

sys.exit(main())
