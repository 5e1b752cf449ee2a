import sys

from epvlm.cli import main

sys.exit(main())
