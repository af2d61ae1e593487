"""Suite-wide rules, and the PostgreSQL server the PostgreSQL tests share."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from orderkit.testing.browser import find_chromium
from orderkit.testing.postgres import server_for_tests


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped test is a failure: nothing may pass by not running."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter is not None else 0
    if os.environ.get("CI") and skipped and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter is not None:
            reporter.write_line(f"CI: {skipped} test(s) skipped; skipping is a failure here")


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """The DSN of the session's PostgreSQL server, started on first use.

    ``ORDERKIT_TEST_PG_DSN`` names a server to use; otherwise a throw-away cluster is
    started (:mod:`orderkit.testing.postgres`). A server that cannot be had is an error
    of the tests that need it: PostgreSQL tests never skip.
    """
    dsn, cluster = server_for_tests()
    try:
        yield dsn
    finally:
        if cluster is not None:
            cluster.stop()


@pytest.fixture
def chromium() -> str:
    """The Chromium to look at pages with: required in CI, a skip elsewhere."""
    found = find_chromium()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI to check pages as a browser sees them")
        pytest.skip("chromium is not installed")  # CI fails any skipped test (see above)
    return found
