"""Where the benchmarks find GoEmotions: $GOEMOTIONS_DIR, else ../shared/data/goemotions beside the repository.

TSV without header: text, comma-separated label ids, comment id; emotions.txt names the ids (line N = id N).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
GOEMOTIONS_DIR = Path(os.environ.get("GOEMOTIONS_DIR", REPO_ROOT.parent / "shared" / "data" / "goemotions"))
