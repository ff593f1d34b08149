"""Shared fixtures."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

import bulkbackup as bb
from bulkbackup.sandbox import Sandbox

# Property-based tests: few examples in CI, many on demand (HYPOTHESIS_PROFILE=thorough, see docs/changes-file.md).
settings.register_profile("ci", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory, monkeypatch):
    """Every test remembers S3 storages in a cache of its own, never in the user's ~/.cache."""
    monkeypatch.setenv("BULKBACKUP_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def sandbox():
    """A running sandbox with the default 40-database fleet, a limit no test reaches by accident and short jobs."""
    with Sandbox(databases=40, seed=0, rate_limit=100_000, job_delay=0.2) as running:
        yield running
    assert not running.errors, f"the sandbox failed while answering: {running.errors!r}"


@pytest.fixture
def client(sandbox):
    """A client of the `sandbox` fixture, closed after the test."""
    with bb.Client(sandbox.endpoint, sandbox.token) as c:
        yield c
