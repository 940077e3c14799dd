"""The test PostgreSQL server (scripts/postgres.sh exports its URL): tests that need it skip without it,
except in CI, where a missing server is a failure."""

from __future__ import annotations

import os

import pytest


def pg_base_url() -> str:
    url = os.environ.get("COMPRESSION_TEST_PG_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("COMPRESSION_TEST_PG_URL is not set: `source scripts/postgres.sh` before pytest")
        pytest.skip("no PostgreSQL (run `source scripts/postgres.sh` first)")
    return url
