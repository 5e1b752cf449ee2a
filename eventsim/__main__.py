import sys

from eventsim.cli import main

sys.exit(main())
