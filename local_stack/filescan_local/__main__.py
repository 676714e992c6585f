"""``python -m filescan_local``."""

import sys

from filescan_local.cli import main

sys.exit(main())
