import sys

from latentcode.cli import main

sys.exit(main())
