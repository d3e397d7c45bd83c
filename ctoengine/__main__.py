import sys

from ctoengine.cli import main

sys.exit(main())
