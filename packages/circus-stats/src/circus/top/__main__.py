"""``python -m circus.top``."""

import sys

from circus.top import main

sys.exit(main())
