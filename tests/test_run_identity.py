"""A reported run's times never move: touch, a script's header line, logrotate (the real Debian
logrotate, both ways), a restart of the daemon after a rotation; and the best clock for a new
run, with impossible times replaced (issue: never lie about a run)."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from conftest import FIXTURES, require_program
from helpers import metric, value, wait_for
from test_cli import invoke
from test_watch import daemon

from exporter.config import Config, Job

GOOD = (FIXTURES / "restic-0.14" / "backup1.log").read_text()
SECOND_GOOD = (FIXTURES / "restic-0.14" / "backup2_v.log").read_text()
FAILED = (FIXTURES / "restic-0.14" / "fatal_pw.log").read_text()
SUMMARY_0_18 = (FIXTURES / "versions" / "v0.18.0-success.json").read_text()

T0, T1, T2 = 1_700_000_000, 1_700_086_400, 1_700_172_800
TIMES = (
    "restic_backup_last_run_timestamp_seconds",
    "restic_backup_last_success_timestamp_seconds",
)


def _parse(log: Path, prom: Path, *args: str) -> tuple[int, str]:
    result = invoke(str(log), "-o", str(prom), *args)
    return result.exit_code, result.stderr


def _times(prom: Path, **labels: str) -> dict[str, float | None]:
    text = prom.read_text()
    return {name: value(text, name, **labels) for name in TIMES}


def _write(log: Path, text: str, mtime: float, append: bool = False) -> None:
    with log.open("a" if append else "w") as out:
        out.write(text)
    os.utime(log, (mtime, mtime))


def test_touch_and_a_header_line_move_no_timestamp(tmp_path: Path) -> None:
    log, prom = tmp_path / "home.log", tmp_path / "home.prom"
    _write(log, GOOD, T0)
    assert _parse(log, prom)[0] == 0
    assert _times(prom) == dict.fromkeys(TIMES, T0)
    os.utime(log, (T1, T1))  # touch
    assert _parse(log, prom)[0] == 0
    assert _times(prom) == dict.fromkeys(TIMES, T0)
    _write(log, "=== nightly backup starting\n\n", T2, append=True)
    assert _parse(log, prom)[0] == 0
    assert _times(prom) == dict.fromkeys(TIMES, T0)


def test_a_new_run_takes_the_time_it_was_first_seen(tmp_path: Path) -> None:
    log, prom = tmp_path / "home.log", tmp_path / "home.prom"
    _write(log, GOOD, T0)
    _parse(log, prom)
    _write(log, FAILED, T1, append=True)
    _parse(log, prom)
    assert _times(prom) == {TIMES[0]: T1, TIMES[1]: T0}
    # The same failure again, appended: another run, although its lines are the same.
    _write(log, FAILED, T2, append=True)
    _parse(log, prom)
    assert _times(prom) == {TIMES[0]: T2, TIMES[1]: T0}


def test_the_other_commands_keep_their_times_too(tmp_path: Path) -> None:
    log, prom = tmp_path / "script.log", tmp_path / "script.prom"
    script = (FIXTURES / "commands" / "v0.14.0-backup-forget-check.log").read_text()
    _write(log, script, T0)
    _parse(log, prom)
    names = [f"restic_{command}_last_run_timestamp_seconds" for command in ("forget", "check")]
    assert [value(prom.read_text(), name) for name in names] == [T0, T0]
    os.utime(log, (T1, T1))
    _parse(log, prom)
    assert [value(prom.read_text(), name) for name in names] == [T0, T0]


def _logrotate(tmp_path: Path, log: Path, mode: str) -> None:
    config = tmp_path / "logrotate.conf"
    config.write_text(f"{log} {{\n  rotate 3\n  {mode}\n  missingok\n}}\n")
    subprocess.run(
        [require_program("logrotate"), "--force", "--state", str(tmp_path / "lr.state"), config],
        check=True,
        capture_output=True,
        timeout=30,
    )


@pytest.mark.parametrize("mode", ["create", "copytruncate"])
def test_logrotate_keeps_the_reported_run_until_a_new_one(tmp_path: Path, mode: str) -> None:
    log, prom = tmp_path / "home.log", tmp_path / "home.prom"
    _write(log, GOOD, T0)
    assert _parse(log, prom)[0] == 0
    before = prom.read_bytes()
    _logrotate(tmp_path, log, mode)
    assert log.exists() and log.stat().st_size == 0
    assert (tmp_path / "home.log.1").read_text() == GOOD
    code, stderr = _parse(log, prom)
    assert code == 0
    assert "keeps reporting the run it reported before" in stderr
    assert prom.read_bytes() == before
    _write(log, SECOND_GOOD, T1, append=True)
    assert _parse(log, prom)[0] == 0
    assert _times(prom) == dict.fromkeys(TIMES, T1)


def test_an_empty_log_without_a_previous_report_is_still_an_error(tmp_path: Path) -> None:
    log, prom = tmp_path / "home.log", tmp_path / "home.prom"
    log.write_text("")
    code, _ = _parse(log, prom)
    assert code == 4
    assert value(prom.read_text(), "restic_exporter_parse_success") == 0


def test_restic_end_time_wins_over_the_mtime(tmp_path: Path) -> None:
    log, prom = tmp_path / "home.json", tmp_path / "home.prom"
    _write(log, SUMMARY_0_18, T2)
    assert _parse(log, prom)[0] == 0
    end = re.search(r'"backup_end":"([^"]+)"', SUMMARY_0_18)
    assert end is not None
    from datetime import datetime

    assert _times(prom) == dict.fromkeys(TIMES, datetime.fromisoformat(end[1]).timestamp())


@pytest.mark.parametrize(
    ("backup_end", "expected"),
    [
        ("0001-01-01T00:00:00Z", "mtime"),  # restic 0.18.0, a skipped snapshot
        ("1969-12-31T23:59:59Z", "mtime"),
        ("2999-01-01T00:00:00Z", "now"),
    ],
)
def test_impossible_end_times_are_replaced(tmp_path: Path, backup_end: str, expected: str) -> None:
    log, prom = tmp_path / "home.json", tmp_path / "home.prom"
    text = re.sub(r'"backup_end":"[^"]+"', f'"backup_end":"{backup_end}"', SUMMARY_0_18)
    _write(log, text, T0)
    started = time.time()
    code, stderr = _parse(log, prom)
    assert code == 0
    times = _times(prom)
    if expected == "mtime":  # the parser drops a time before 1970, and the exporter says so
        assert f"cannot be true, left out: backup_end {backup_end}" in stderr
    else:
        assert "backup: restic's end time" in stderr and "is in the future" in stderr
    if expected == "mtime":
        assert times == dict.fromkeys(TIMES, T0)
    else:
        assert all(started <= t <= time.time() for t in times.values() if t is not None)


def test_a_log_written_in_the_future_is_clamped_to_now(tmp_path: Path) -> None:
    log, prom = tmp_path / "home.log", tmp_path / "home.prom"
    _write(log, GOOD, time.time() + 86400 * 365)
    started = time.time()
    code, stderr = _parse(log, prom)
    assert code == 0 and "in the future" in stderr
    assert all(started <= t <= time.time() for t in _times(prom).values() if t is not None)


def test_watch_keeps_times_and_success_across_a_restart_after_rotation(tmp_path: Path) -> None:
    """The daemon resumes a log at its oldest kept run (here the good run before the failed
    one): the failed run, read again, keeps its identity and so its time."""
    log, prom = tmp_path / "home.log", tmp_path / "home.prom"
    _write(log, GOOD + SECOND_GOOD + FAILED, T0)
    config = Config((Job(log, prom, {"backup": "home"}),), 0.05, tmp_path / "state.json")
    with daemon(config):
        wait_for(lambda: metric(prom, "restic_backup_success", backup="home") == 0)
    first = prom.read_bytes()
    assert _times(prom, backup="home") == {TIMES[0]: T0, TIMES[1]: None}
    os.utime(log, (T1, T1))
    with daemon(config) as running:  # a restart that reads the same run again
        assert running.ready.wait(10)
    assert prom.read_bytes() == first
    _logrotate(tmp_path, log, "create")
    with daemon(config) as running:  # a restart after the rotation: the log is new and empty
        assert running.ready.wait(10)
    assert prom.read_bytes() == first
    with daemon(config):
        _write(log, FAILED, T2, append=True)
        wait_for(lambda: _times(prom, backup="home")[TIMES[0]] == T2)
    assert metric(prom, "restic_backup_success", backup="home") == 0


def test_watch_restarted_after_a_rotation_without_create_keeps_the_report(tmp_path: Path) -> None:
    """logrotate's nocreate: the log is gone until the next backup makes it again."""
    log, prom = tmp_path / "home.log", tmp_path / "home.prom"
    _write(log, GOOD, T0)
    config = Config((Job(log, prom, {"backup": "home"}),), 0.05, tmp_path / "state.json")
    with daemon(config):
        wait_for(lambda: metric(prom, "restic_backup_success", backup="home") == 1)
    first = prom.read_bytes()
    _logrotate(tmp_path, log, "nocreate")
    assert not log.exists()
    with daemon(config) as running:
        assert running.ready.wait(10)
        assert prom.read_bytes() == first
        _write(log, FAILED, T1)
        wait_for(lambda: metric(prom, "restic_backup_success", backup="home") == 0)


def test_watch_on_a_log_that_never_existed_says_so(tmp_path: Path) -> None:
    prom = tmp_path / "home.prom"
    config = Config((Job(tmp_path / "home.log", prom, {"backup": "home"}),), 0.05)
    with daemon(config) as running:
        assert running.ready.wait(10)
        assert metric(prom, "restic_exporter_parse_success", backup="home") == 0


@pytest.mark.parametrize("log_text", ["", "=== nightly backup starting\n", "Killed\n"])
def test_a_given_exit_code_reports_a_log_with_no_run_as_that_runs_failure(
    tmp_path: Path, log_text: str
) -> None:
    """``restic backup >>log; parse log --exit-code $?``: restic may fail before it prints a
    word it is known by.  A run ended (the caller says so): it failed, it is not "nothing new"."""
    good, prom = tmp_path / "good.log", tmp_path / "home.prom"
    _write(good, GOOD, T0)
    assert _parse(good, prom)[0] == 0
    log = tmp_path / "home.log"
    _write(log, log_text, T1)
    code, _ = _parse(log, prom, "--exit-code", "1")
    assert code == 4
    text = prom.read_text()
    assert value(text, "restic_backup_success") == 0
    assert value(text, "restic_backup_exit_code") == 1
    assert value(text, "restic_backup_last_success_timestamp_seconds") == T0


def test_a_log_rewritten_in_place_while_the_daemon_was_stopped_is_read_from_its_start(
    tmp_path: Path,
) -> None:
    log, prom = tmp_path / "home.log", tmp_path / "home.prom"
    _write(log, GOOD + SECOND_GOOD, T0)
    config = Config((Job(log, prom, {"backup": "home"}),), 0.05, tmp_path / "state.json")
    with daemon(config):
        wait_for(lambda: metric(prom, "restic_backup_success", backup="home") == 1)
    with log.open("r+") as out:  # ">log" keeps the inode: same file, other bytes
        out.write(FAILED + "\n" * (len(GOOD + SECOND_GOOD) - len(FAILED)))
    with daemon(config) as running:
        assert running.ready.wait(10)
        assert metric(prom, "restic_backup_success", backup="home") == 0


def test_a_password_that_cannot_be_resolved_is_a_failed_run(tmp_path: Path) -> None:
    """restic 0.11 and 0.14 say so without a leading "Fatal: " (seen with the real binaries):
    the log holds a failed run, not "nothing new", also without --exit-code."""
    good, prom = tmp_path / "good.log", tmp_path / "home.prom"
    _write(good, GOOD, T0)
    _parse(good, prom)
    log = tmp_path / "home.log"
    _write(log, "Resolving password failed: Fatal: /etc/restic/pw does not exist\n", T1)
    code, _ = _parse(log, prom)
    assert code == 0
    assert value(prom.read_text(), "restic_backup_success") == 0
    assert value(prom.read_text(), "restic_backup_exit_code") == 1
    assert _times(prom) == {TIMES[0]: T1, TIMES[1]: T0}
