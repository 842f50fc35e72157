"""Consumer-group suites (group coordinator, classic + KIP-848 protocols, committed offsets).

The fixtures (`broker`, `broker_process_factory`) come from ../conftest.py, which pytest
applies to this directory too; this file only makes the shared helpers importable."""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for p in (HERE, HERE.parent):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))
