"""Where the repository and the test tree are, for tests at any depth of the tree."""
from __future__ import annotations

from pathlib import Path

TEST_DIR = Path(__file__).resolve().parent.parent
REPO = TEST_DIR.parent
