"""``python -m pachs3 ...`` is the ``pachs3`` command."""

from pachs3.cli import main

raise SystemExit(main())
