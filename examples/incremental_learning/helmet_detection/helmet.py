"""The synthetic helmet-detection world, shared with the joint-inference example (one copy of the code).

The detector lives in ``examples/joint_inference/helmet_detection/helmet.py``; ``import helmet`` from this
folder's scripts loads that file as the module ``helmet``, so both examples train and detect alike.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_SHARED = Path(__file__).resolve().parents[2] / "joint_inference" / "helmet_detection" / "helmet.py"
_spec = importlib.util.spec_from_file_location(__name__, _SHARED)
_module = importlib.util.module_from_spec(_spec)
sys.modules[__name__] = _module  # the import statement hands out what sys.modules holds once this file ran
_spec.loader.exec_module(_module)
