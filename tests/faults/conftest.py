"""Fixtures of the fault tests: a private PostgreSQL cluster (one per session, migrated
once into a template), a fresh database and a process stack per test, a private Redis."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.processes import PrivatePostgres, PrivateRedis, Stack

TEMPLATE = PrivatePostgres.TEMPLATE


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PrivatePostgres]:
    # A short path under /tmp: the server's socket path must stay under 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="vitals-faults-pg-", dir="/tmp"))
    cluster = PrivatePostgres(root)
    try:
        cluster.init()
        cluster.start()
        cluster.create_database(TEMPLATE)
        stack = Stack(root, database_url=cluster.url(TEMPLATE))
        stack.manage("migrate", "--noinput", "-v0")
        yield cluster
    finally:
        if cluster.is_running():
            cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def database(postgres: PrivatePostgres) -> str:
    """A migrated database of this test's own on the private cluster; its URL."""
    return postgres.database_from()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def stack(request, tmp_path: Path, database: str) -> Iterator[Stack]:
    processes = Stack(tmp_path, database_url=database)
    try:
        yield processes
    finally:
        processes.stop_all()
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            print(processes.logs())
