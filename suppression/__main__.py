"""`python -m suppression`: the installed `suppression` command. Its `serve` starts the edges,
so this entry point (like run.py) is the one place under suppression/ that reaches handlers/."""

import sys

from handlers.serve import console

sys.exit(console())
