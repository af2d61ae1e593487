"""``python -m orderkit``."""

from orderkit.cli import main

raise SystemExit(main())
