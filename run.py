"""Start the service (the same as the installed `suppression serve`); see handlers/serve.py."""

import sys

from handlers.serve import main

if __name__ == "__main__":
    sys.exit(main())
