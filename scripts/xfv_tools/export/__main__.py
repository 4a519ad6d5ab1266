"""`python -m xfv_tools.export ...` (same as `xfv-export`)."""

import sys

from .cli import main

sys.exit(main())
