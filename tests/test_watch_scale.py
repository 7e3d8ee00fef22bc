"""watch mode with many jobs: a limit on watches or threads costs the directories past it, says so
once, and their jobs are still followed (looked at now and then); a big config is checked
in one pass."""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES
from helpers import metric, wait_for
from watchdog.observers import Observer

from exporter import watch
from exporter.config import Config, Job, load_config
from exporter.watch import Daemon

GOOD = (FIXTURES / "restic-0.14" / "backup1.log").read_text()
FAILED = (FIXTURES / "restic-0.14" / "fatal_pw.log").read_text()


class _LimitedObserver(Observer):  # type: ignore[misc,valid-type]
    """Watches every directory but `blocked`, as if a limit was reached there."""

    blocked = ""
    error: BaseException = OSError(errno.ENOSPC, "No space left on device")

    def schedule(self, handler: Any, path: Any, *args: Any, **kwargs: Any) -> Any:
        if str(path) == self.blocked:
            raise self.error
        return super().schedule(handler, path, *args, **kwargs)


@contextmanager
def _daemon(config: Config, blocked: Path, error: BaseException) -> Iterator[Daemon]:
    observer = type("Observer", (_LimitedObserver,), {"blocked": str(blocked), "error": error})
    running = Daemon(lambda: config, observer_factory=observer)
    thread = threading.Thread(target=running.run, kwargs={"install_signal_handlers": False})
    thread.start()
    try:
        yield running
    finally:
        running.request_stop()
        thread.join(timeout=20)
        assert not thread.is_alive()


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "fs.inotify.max_user_watches"),
        (RuntimeError("can't start new thread"), "can't start new thread"),
    ],
    ids=["inotify watches", "threads"],
)
def test_a_directory_past_a_limit_is_said_once_and_its_job_still_followed(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    error: BaseException,
    said: str,
) -> None:
    monkeypatch.setattr(watch, "POLL_SECONDS", 0.2)
    watched, blocked = tmp_path / "watched", tmp_path / "blocked"
    jobs = []
    for directory in (watched, blocked):
        directory.mkdir()
        (directory / "home.log").write_text(GOOD)
        jobs.append(Job(directory / "home.log", directory / "home.prom", {"job": "home"}))
    caplog.set_level(logging.INFO, logger="restic-textfile-exporter")
    with _daemon(Config(tuple(jobs), 0.0), blocked, error):
        for directory in (watched, blocked):
            success = partial(metric, directory / "home.prom", "restic_backup_success", job="home")
            wait_for(partial(_equals, success, 1))
            with (directory / "home.log").open("a") as out:
                out.write(FAILED)
            wait_for(partial(_equals, success, 0))
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"cannot watch 1 of 2 log directories ({blocked}: ")
    assert said in errors[0]
    assert "1 job(s) are looked at every 0.2 s" in errors[0]


def _equals(read: Callable[[], float | None], expected: float) -> bool:
    return read() == expected


def test_an_unchanged_log_in_an_unwatched_directory_is_not_published_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watch, "POLL_SECONDS", 0.05)
    log, prom = tmp_path / "home.log", tmp_path / "home.prom"
    log.write_text(GOOD)
    published = []
    with _daemon(Config((Job(log, prom, {"job": "home"}),), 0.0), tmp_path, OSError(28, "")):
        wait_for(lambda: metric(prom, "restic_backup_success", job="home") == 1)
        published.append(os.stat(prom).st_ino)
        polls = 0
        poll = Daemon._poll

        def counting_poll(self: Daemon, *args: Any) -> None:
            nonlocal polls
            polls += 1
            poll(self, *args)

        monkeypatch.setattr(Daemon, "_poll", counting_poll)
        wait_for(lambda: polls >= 5)
        published.append(os.stat(prom).st_ino)
    assert published[0] == published[1]  # each publication replaces the file


def test_a_config_of_many_jobs_resolves_each_path_a_few_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No two roles may share a file; checking that pair by pair took minutes for a thousand
    jobs (at every start and SIGHUP)."""
    resolved = 0
    realpath = os.path.realpath

    def counting_realpath(path: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal resolved
        resolved += 1
        return realpath(path, *args, **kwargs)

    jobs = 300
    text = "".join(
        f'[[job]]\nlog = "{tmp_path}/j{index}.log"\noutput = "{tmp_path}/j{index}.prom"\n'
        for index in range(jobs)
    )
    (tmp_path / "exporter.toml").write_text(text)
    monkeypatch.setattr(os.path, "realpath", counting_realpath)
    assert len(load_config(tmp_path / "exporter.toml").jobs) == jobs
    assert resolved <= 4 * (2 * jobs + 1)
