"""``python -m speedoflight``."""

import sys

from .cli.app import main

__all__: list[str] = []

sys.exit(main())
