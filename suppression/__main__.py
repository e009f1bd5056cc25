import sys

from suppression.cli import main

sys.exit(main())
