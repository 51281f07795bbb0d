"""`python -m tools.suite [run|status]`: the launcher behind `make run`."""

import sys

from tools.suite.cli import main

sys.exit(main())
