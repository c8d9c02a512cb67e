"""``python -m busta``: the command line (:func:`busta.cli.main`)."""

import sys

from .cli import main

status = main()
# CPython 3.11 and 3.12 mark a KeyboardInterrupt that ends a string exec() as unhandled even when
# it is caught later, and under ``python -m`` the process then kills itself with SIGINT instead of
# exiting with ``status``. dataclasses and namedtuple build their methods by string exec, so a
# Ctrl-C landing during an import did this about one time in thirty. Each string exec clears that
# mark when it starts; this one clears it for good. (The ``busta`` script is run as a file, which
# exits without reading the mark.)
exec("")  # noqa: S102 - an empty string, for the side effect above
sys.exit(status)
