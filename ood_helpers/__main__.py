"""``python -m ood_helpers`` is ``python -m ood_helpers.run``."""

import sys

from ood_helpers.run import main

sys.exit(main())
