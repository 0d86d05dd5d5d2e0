import sys

from openmux.cli import main

sys.exit(main())
