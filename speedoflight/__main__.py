"""``python -m speedoflight``."""

import sys

from .cli.app import main

sys.exit(main())
