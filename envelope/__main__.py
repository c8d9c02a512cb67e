"""``python -m envelope``: the command line (:func:`envelope.cli.main`)."""

import sys

from .cli import main

sys.exit(main())
