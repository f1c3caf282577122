"""``python -m simulator`` is the ``examday`` command."""

import sys

from .cli import main

sys.exit(main())
