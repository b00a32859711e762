"""``python -m ood_helpers`` is ``python -m ood_helpers.run``."""

import sys

from .run import main

sys.exit(main())
