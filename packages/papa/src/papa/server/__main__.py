"""``python -m papa.server``: run the papa kernel."""

from __future__ import annotations

from . import main

raise SystemExit(main())
