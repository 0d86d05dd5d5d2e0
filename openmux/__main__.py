"""`python -m openmux`: the `openmux` command."""

import sys

from openmux.cli import main

sys.exit(main())
