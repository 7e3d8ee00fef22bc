"""Shared fixtures.  The real consumer checks what we write: after every test, each ``.prom`` file
left in its temporary directory goes through ``promtool check metrics``."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from restic_runs import ResticLogs, make_restic_logs

FIXTURES = Path(__file__).parent / "fixtures"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--regenerate-goldens",
        action="store_true",
        help="write each fixture's expected files (.expected.json, .expected.prom) from what the "
        "code makes of it now, instead of comparing; review the result with git diff",
    )


@pytest.fixture
def regenerate_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--regenerate-goldens"))


def require_program(name: str) -> str:
    """The path of a program the tests need; a missing one fails loudly instead of skipping."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run .ci/run, which installs the test dependencies")
    return path


def promtool_check(data: bytes) -> None:
    """Fail unless the real ``promtool check metrics`` accepts `data` without a word."""
    result = subprocess.run(
        [require_program("promtool"), "check", "metrics"],
        input=data,
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0 and not result.stdout and not result.stderr, (
        f"promtool check metrics rejected:\n{data.decode(errors='replace')}\n"
        f"{result.stdout.decode()}{result.stderr.decode()}"
    )


@pytest.fixture(autouse=True)
def _every_prom_file_passes_promtool(tmp_path: Path) -> Iterator[None]:
    yield
    for prom in sorted(tmp_path.rglob("*.prom")):
        if prom.is_file():
            promtool_check(prom.read_bytes())


@pytest.fixture(autouse=True)
def _no_thread_outlives_its_test() -> Iterator[None]:
    """Every thread a test starts (the watch daemon's observers, say) must be joined by its end."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while leaked := [t for t in threading.enumerate() if t not in before and t.is_alive()]:
        if time.monotonic() > deadline:
            pytest.fail(f"threads leaked by this test: {leaked}")
        time.sleep(0.01)


@pytest.fixture(scope="session")
def restic_logs(tmp_path_factory: pytest.TempPathFactory) -> ResticLogs:
    """Logs written by the real Debian restic, once per test session (about 20 s)."""
    require_program("restic")
    return make_restic_logs(tmp_path_factory.mktemp("restic"))
