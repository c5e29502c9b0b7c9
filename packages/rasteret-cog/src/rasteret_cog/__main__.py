"""``python -m rasteret_cog``."""

from rasteret_cog.cli import main

raise SystemExit(main())
