"""What the tests that run the Rust binary share: the real-model rule (XFV_REQUIRE_REAL=1 turns
a missing file or binary into a failure instead of a skip) and where the `xfv` binary is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from xfv_tools import paths

REQUIRED = os.environ.get("XFV_REQUIRE_REAL") == "1"


def xfv_binary() -> Path | None:
    for p in (os.environ.get("XFV_BIN"), paths.REPO / "target/debug/xfv", paths.REPO / "target/release/xfv"):
        if p and Path(p).is_file():
            return Path(p)
    return None


def need(*files: Path) -> None:
    missing = [str(f) for f in files if not Path(f).exists()]
    if missing:
        if REQUIRED:
            pytest.fail(f"missing {missing} (XFV_REQUIRE_REAL=1)")
        pytest.skip(f"missing {missing}: run scripts/setup and cargo build")


def need_binary() -> Path:
    exe = xfv_binary()
    if exe is None:
        if REQUIRED:
            pytest.fail("no xfv binary (cargo build -p xfv-cli)")
        pytest.skip("no xfv binary: cargo build -p xfv-cli")
    return exe
