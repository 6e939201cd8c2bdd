"""``python -m rpkit``: the same as the ``rpkit`` command."""

import sys

from .cli import main

sys.exit(main())
