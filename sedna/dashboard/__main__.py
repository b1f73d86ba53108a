"""``python -m sedna.dashboard ...`` = ``sedna dashboard ...``."""

import sys

from sedna.cli import main

if __name__ == "__main__":
    sys.exit(main(["dashboard", *sys.argv[1:]]))
