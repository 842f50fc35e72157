"""Fixtures for the real-client compatibility suites.

`broker` (session scope) yields a bootstrap address "127.0.0.1:PORT":
  * COMPAT_BOOTSTRAP=host:port set  -> that external broker is used as is;
  * otherwise a fresh `takhin serve` (TAKHIN_BIN, default <repo>/target/debug/takhin)
    is started on free loopback ports with a temp data dir, and stopped afterwards.

`broker_process_factory` (function scope) makes `BrokerProcess` objects (start/stop/
kill9/restart on the same data dir and ports) that are cleaned up after the test;
tests using it need a Takhin binary and are skipped when COMPAT_BOOTSTRAP is set.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from broker import BrokerProcess, wait_kafka_ready  # noqa: E402

COMPAT_DIR = Path(__file__).resolve().parent
_SESSION_BROKER: list[BrokerProcess] = []


def external_bootstrap() -> str | None:
    return os.environ.get("COMPAT_BOOTSTRAP") or None


@pytest.fixture(scope="session")
def broker():
    ext = external_bootstrap()
    if ext:
        wait_kafka_ready(ext, 30.0)
        yield ext
        return
    bp = BrokerProcess()
    _SESSION_BROKER.append(bp)
    try:
        bp.start()
    except Exception:
        bp.cleanup()
        raise
    try:
        yield bp.bootstrap
    finally:
        if bp.proc is not None and bp.proc.poll() is not None:
            print(f"\n--- broker exited with {bp.proc.returncode}; log tail ---\n{bp.log_tail()}")
        bp.cleanup()


@pytest.fixture
def broker_process_factory(tmp_path):
    """Return a function making BrokerProcess(data_dir=...) objects; all are cleaned up."""
    if external_bootstrap():
        pytest.skip("needs a Takhin binary (COMPAT_BOOTSTRAP points at an external broker)")
    made: list[BrokerProcess] = []

    def make(data_dir=None, **kw) -> BrokerProcess:
        bp = BrokerProcess(data_dir=data_dir or (tmp_path / f"data{len(made)}"), **kw)
        made.append(bp)
        return bp

    yield make
    for bp in made:
        bp.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, attach the tail of the session broker's log to the report."""
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.failed and _SESSION_BROKER:
        bp = _SESSION_BROKER[-1]
        state = "running" if bp.running else f"NOT running (exit {bp.proc.returncode if bp.proc else '?'})"
        rep.sections.append((f"takhin log tail ({bp.log_path}, broker {state})", bp.log_tail(6000)))
