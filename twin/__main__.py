"""``python -m twin``: the production twin's command line."""

import sys

from twin.cli import main

sys.exit(main())
