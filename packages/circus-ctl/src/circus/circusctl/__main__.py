"""``python -m circus.circusctl``."""

import sys

from circus.ctl._main import main

sys.exit(main())
