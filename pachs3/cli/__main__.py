"""``python -m pachs3.cli ...`` is the ``pachs3`` command (the tests run it so)."""

import sys

from pachs3.cli import main

sys.exit(main())
