import sys

from ctoengine.drills.cli import main

sys.exit(main())
