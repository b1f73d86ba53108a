"""Makes the shared test helpers in ``tests/support/`` importable from every test directory (plain modules:
the test directories are not packages)."""

import sys
from pathlib import Path

SUPPORT = str(Path(__file__).resolve().parent / "support")
if SUPPORT not in sys.path:
    sys.path.insert(0, SUPPORT)
