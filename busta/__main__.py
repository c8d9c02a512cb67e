"""``python -m busta``: the command line (:func:`busta.cli.main`)."""

import sys

from .cli import main

sys.exit(main())
