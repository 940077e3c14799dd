"""Fixtures of the page tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A private cache and run store per test (the Compare tests seed their own store instead)."""
    monkeypatch.setenv("COMPRESSION_CACHE", str(tmp_path))
    monkeypatch.setenv("COMPRESSION_STORE", f"sqlite:///{tmp_path}/runs.db")
