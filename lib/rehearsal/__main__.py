"""`python -m lib.rehearsal`: the same as `python -m lib rehearse`."""

import sys

from lib.rehearsal import main

sys.exit(main())
