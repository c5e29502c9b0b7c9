"""``python -m rasteret.cli``: the ``rasteret`` command."""

import sys

from rasteret.cli import main

sys.exit(main())
