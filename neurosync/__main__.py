"""``python -m neurosync ...`` is the ``neurosync`` command."""

import sys

from .cli import main

sys.exit(main())
