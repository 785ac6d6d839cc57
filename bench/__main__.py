"""``python -m bench``: run every benchmark and print the comparison table (see :mod:`bench.run_all`)."""

import sys

from bench.run_all import main

sys.exit(main())
