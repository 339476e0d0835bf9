"""`python -m capsnet`: the command line of `capsnet.cli`."""

import sys

from capsnet.cli import main

if __name__ == "__main__":
    sys.exit(main())
