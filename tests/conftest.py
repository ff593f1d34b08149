"""Shared fixtures."""

from __future__ import annotations

import pytest

from bulkbackup.sandbox import Sandbox


@pytest.fixture
def sandbox():
    """A running sandbox with the default 40-database fleet, a limit no test reaches by accident and short jobs."""
    with Sandbox(databases=40, seed=0, rate_limit=100_000, job_delay=0.2) as running:
        yield running
    assert not running.errors, f"the sandbox failed while answering: {running.errors!r}"
