"""watch mode with real files and real inotify (watchdog's observer, not a mock): append, rotate
both ways, delete, recreate, and read the .prom file that the daemon writes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import pytest
from conftest import FIXTURES
from helpers import metric, wait_for
from watchdog.events import DirDeletedEvent, DirModifiedEvent, FileModifiedEvent, FileMovedEvent

from exporter.config import Config, Job, load_config
from exporter.watch import Daemon, JobEvents
from exporter.watch_messages import Control, JobChanged, Message
from exporter.watch_plan import WatchPlan

GOOD = (FIXTURES / "restic-0.14" / "backup1.log").read_text()
FAILED = (FIXTURES / "restic-0.14" / "fatal_pw.log").read_text()
SECOND_GOOD = (FIXTURES / "restic-0.14" / "backup2_v.log").read_text()
RUNNING_JSON = (
    '{"message_type":"status","seconds_elapsed":30,"seconds_remaining":90,"percent_done":0.25,'
    '"total_files":100,"files_done":20,"total_bytes":4000,"bytes_done":1000}\n'
)
SUMMARY_JSON = (FIXTURES / "versions" / "v0.18.0-success.json").read_text().splitlines()[1] + "\n"


@contextmanager
def daemon(config: Config | Callable[[], Config]) -> Iterator[Daemon]:
    load = config if callable(config) else (lambda: config)
    running = Daemon(load)
    thread = threading.Thread(target=running.run, kwargs={"install_signal_handlers": False})
    thread.start()
    try:
        yield running
    finally:
        running.request_stop()
        thread.join(timeout=20)
        assert not thread.is_alive()


def _config(tmp_path: Path, *logs: str, state: bool = False) -> Config:
    jobs = tuple(
        Job(tmp_path / f"{name}.log", tmp_path / f"{name}.prom", {"job": name}) for name in logs
    )
    return Config(jobs, 0.05, tmp_path / "state.json" if state else None)


def test_an_appended_run_is_exported(tmp_path: Path) -> None:
    log, prom = tmp_path / "home.log", tmp_path / "home.prom"
    log.write_text(GOOD)
    with daemon(_config(tmp_path, "home")):
        wait_for(lambda: metric(prom, "restic_backup_success", job="home") == 1)
        with log.open("a") as out:
            out.write(FAILED)
        wait_for(lambda: metric(prom, "restic_backup_success", job="home") == 0)
        # a wrong password's text does not tell restic 0.14's exit code 1 from 0.17's 12
        assert metric(prom, "restic_backup_exit_code", job="home") is None
        assert metric(prom, "restic_backup_last_success_timestamp_seconds", job="home")


def test_a_log_that_appears_later_is_picked_up(tmp_path: Path) -> None:
    prom = tmp_path / "home.prom"
    with daemon(_config(tmp_path, "home")):
        wait_for(lambda: metric(prom, "restic_exporter_parse_success", job="home") == 0)
        (tmp_path / "home.log").write_text(GOOD)
        wait_for(lambda: metric(prom, "restic_backup_success", job="home") == 1)


def test_rename_and_create_rotation_loses_no_run(tmp_path: Path) -> None:
    log, prom = tmp_path / "home.log", tmp_path / "home.prom"
    log.write_text(GOOD)
    with daemon(_config(tmp_path, "home")):
        wait_for(lambda: metric(prom, "restic_backup_success", job="home") == 1)
        with log.open("a") as out:
            out.write(FAILED)  # written and rotated away before the daemon may have read it
        log.rename(tmp_path / "home.log.1")
        log.write_text("")
        wait_for(lambda: metric(prom, "restic_backup_success", job="home") == 0)
        with log.open("a") as out:
            out.write(SECOND_GOOD)
        wait_for(lambda: metric(prom, "restic_backup_success", job="home") == 1)
        assert metric(prom, "restic_backup_files", job="home", state="unmodified") == 4837


def test_copytruncate_rotation_is_followed(tmp_path: Path) -> None:
    log, prom = tmp_path / "home.log", tmp_path / "home.prom"
    log.write_text(GOOD + FAILED)
    with daemon(_config(tmp_path, "home")):
        wait_for(lambda: metric(prom, "restic_backup_success", job="home") == 0)
        shutil.copyfile(log, tmp_path / "home.log.1")
        with log.open("r+") as out:
            out.truncate(0)
        with log.open("a") as out:
            out.write(SECOND_GOOD)
        wait_for(lambda: metric(prom, "restic_backup_success", job="home") == 1)
        assert metric(prom, "restic_backup_blobs", job="home", type="tree") == 3


def test_a_deleted_log_keeps_the_metrics_and_a_new_one_is_followed(tmp_path: Path) -> None:
    log, prom = tmp_path / "home.log", tmp_path / "home.prom"
    log.write_text(FAILED)
    with daemon(_config(tmp_path, "home")):
        wait_for(lambda: metric(prom, "restic_backup_success", job="home") == 0)
        log.unlink()
        time.sleep(0.3)
        assert metric(prom, "restic_backup_success", job="home") == 0
        log.write_text(GOOD)
        wait_for(lambda: metric(prom, "restic_backup_success", job="home") == 1)


def test_a_running_backup_shows_progress_then_its_summary(tmp_path: Path) -> None:
    log, prom = tmp_path / "home.log", tmp_path / "home.prom"
    log.write_text(GOOD)
    with daemon(_config(tmp_path, "home")):
        wait_for(lambda: metric(prom, "restic_backup_running", job="home") == 0)
        with log.open("a") as out:
            out.write(RUNNING_JSON)
        wait_for(lambda: metric(prom, "restic_backup_running", job="home") == 1)
        assert metric(prom, "restic_backup_progress_ratio", job="home") == 0.25
        assert metric(prom, "restic_backup_progress_files", job="home") == 20
        assert metric(prom, "restic_backup_progress_bytes", job="home") == 1000
        assert metric(prom, "restic_backup_eta_seconds", job="home") == 90
        started = metric(prom, "restic_backup_started_timestamp_seconds", job="home")
        assert started is not None and abs(started - (time.time() - 30)) < 10
        # meanwhile the outcome is still the last finished backup's
        assert metric(prom, "restic_backup_success", job="home") == 1
        assert metric(prom, "restic_exporter_parse_success", job="home") == 1
        with log.open("a") as out:
            out.write(SUMMARY_JSON)
        wait_for(lambda: metric(prom, "restic_backup_running", job="home") == 0)
        assert metric(prom, "restic_backup_progress_ratio", job="home") is None
        assert metric(prom, "restic_backup_stored_bytes", job="home") == 3000


def test_read_positions_survive_a_restart(tmp_path: Path) -> None:
    log, prom = tmp_path / "home.log", tmp_path / "home.prom"
    log.write_text(FAILED + GOOD + SECOND_GOOD)
    config = _config(tmp_path, "home", state=True)
    with daemon(config):
        wait_for(lambda: metric(prom, "restic_backup_success", job="home") == 1)
    saved = (tmp_path / "state.json").read_text()
    assert f'"offset": {len(FAILED + GOOD + SECOND_GOOD)}' in saved
    # from the finished run before the latest: what a backup starting next would report
    assert f'"run_start_offset": {len(FAILED)}' in saved
    prom.unlink()
    with daemon(config):  # reads on from the run that was reported: same result
        wait_for(lambda: metric(prom, "restic_backup_success", job="home") == 1)
        with log.open("a") as out:
            out.write(FAILED)
        wait_for(lambda: metric(prom, "restic_backup_success", job="home") == 0)


def test_sighup_style_reload_adds_a_job(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text(GOOD)
    (tmp_path / "b.log").write_text(FAILED)
    configs = [_config(tmp_path, "a"), _config(tmp_path, "a", "b")]
    with daemon(lambda: configs[0]) as running:
        wait_for(lambda: (tmp_path / "a.prom").exists())
        configs.pop(0)
        running.request_reload()
        wait_for(lambda: metric(tmp_path / "b.prom", "restic_backup_success", job="b") == 0)


def test_handler_queues_only_the_jobs_of_the_path() -> None:
    """The thin handler, by synthetic events (as watchdog's own tests do)."""
    import queue

    plan = WatchPlan(
        directories=("/logs",),
        jobs_by_path={"/logs/a.log": ("a",), "/logs/b.log": ("b", "b2")},
        awaited=frozenset(),
        waiting=(),
    )
    events: queue.SimpleQueue[Message] = queue.SimpleQueue()
    handler = JobEvents(plan, events)
    handler.dispatch(FileModifiedEvent("/logs/other.log"))
    handler.dispatch(FileModifiedEvent("/logs/a.log"))
    handler.dispatch(FileMovedEvent("/logs/x.log", "/logs/b.log"))
    handler.dispatch(DirModifiedEvent("/logs"))  # a file in it changed: not a rescan
    handler.dispatch(DirDeletedEvent("/logs"))
    queued = []
    while not events.empty():
        queued.append(events.get())
    assert queued == [JobChanged("a"), JobChanged("b"), JobChanged("b2"), Control.RESCAN]


def _has_success(prom: Path, job: str, expected: int) -> bool:
    return metric(prom, "restic_backup_success", job=job) == expected


def test_a_job_named_like_a_control_word_is_only_a_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The queue carries typed messages: a job whose key is "stop" does not stop the daemon."""
    monkeypatch.chdir(tmp_path)
    jobs = tuple(Job(Path(f"{word}.log"), Path(word), {"job": word}) for word in ("stop", "reload"))
    assert [job.key for job in jobs] == ["stop", "reload"]
    with daemon(Config(jobs, debounce_seconds=0)):
        for round_ in (GOOD, FAILED, GOOD):
            Path("stop.log").write_text(round_)
            Path("reload.log").write_text(round_)
            expected = 0 if round_ is FAILED else 1
            for word in ("stop", "reload"):
                wait_for(partial(_has_success, Path(word), word, expected))


def test_a_log_directory_deleted_and_created_again_is_followed(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    prom = tmp_path / "home.prom"
    (logs / "home.log").write_text(GOOD)
    config = Config((Job(logs / "home.log", prom, {"job": "home"}),), 0.05)
    with daemon(config):
        wait_for(lambda: metric(prom, "restic_backup_success", job="home") == 1)
        shutil.rmtree(logs)
        logs.mkdir()
        (logs / "home.log").write_text(FAILED)
        wait_for(lambda: metric(prom, "restic_backup_success", job="home") == 0)
        (logs / "home.log").write_text(SECOND_GOOD)
        wait_for(lambda: metric(prom, "restic_backup_success", job="home") == 1)


def test_a_reload_to_paths_that_cannot_be_resolved_keeps_every_other_job(tmp_path: Path) -> None:
    (tmp_path / "x").symlink_to(tmp_path / "y")
    (tmp_path / "y").symlink_to(tmp_path / "x")
    home = Job(tmp_path / "home.log", tmp_path / "home.prom", {"job": "home"})
    loop = Job(tmp_path / "x" / "a.log", tmp_path / "loop.prom", {"job": "loop"})
    nul = Job(tmp_path / "a\0b.log", tmp_path / "nul.prom", {"job": "nul"})
    configs = [Config((home,), 0.05), Config((home, loop, nul), 0.05)]
    home.log.write_text(GOOD)
    with daemon(lambda: configs[0]) as running:
        wait_for(lambda: metric(home.output, "restic_backup_success", job="home") == 1)
        configs.pop(0)
        running.request_reload()
        wait_for(lambda: metric(loop.output, "restic_exporter_parse_success", job="loop") == 0)
        wait_for(lambda: metric(nul.output, "restic_exporter_parse_success", job="nul") == 0)
        home.log.write_text(FAILED)
        wait_for(lambda: metric(home.output, "restic_backup_success", job="home") == 0)


def test_a_stop_is_not_held_off_by_a_long_backlog(tmp_path: Path) -> None:
    """SIGTERM's path: the daemon stops within a second or so even with hundreds of MB unread,
    and what it half read is not published."""
    log, prom = tmp_path / "home.log", tmp_path / "home.prom"
    log.write_text(GOOD)
    with daemon(_config(tmp_path, "home")):
        wait_for(lambda: metric(prom, "restic_backup_success", job="home") == 1)
    before = prom.read_bytes()
    line = "unchanged    /srv/data/some/rather/long/path/to/a/file/number/000000\n"
    with log.open("a") as out:
        out.write(FAILED)
        block = line * 16384
        for _ in range(300):  # about 330 MB: seconds of reading, from its start
            out.write(block)
    with daemon(_config(tmp_path, "home")) as running:
        wait_for(lambda: str(prom) in running._runners)
        follower = running._runners[str(prom)].follower
        wait_for(lambda: follower.parser.lines > GOOD.count("\n"))  # reading the backlog
        started = time.monotonic()
        running.request_stop()
    assert time.monotonic() - started < 3
    assert prom.read_bytes() == before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "debounce_seconds = 1\n[[job]]\nlog = 1\noutput = 'x.prom'\n",
            ":3: job #1: log: is required",
        ),
        ("[[job]]\nlog = 'a'\noutput = 'x.prom'\nlables = {}\n", ":4: job #1: lables: unknown key"),
        ("[[job]]\nlog = 'a'\n", ":1: job #1: output: is required"),
        (
            "[[job]]\nlog='a'\noutput='x.prom'\n[[job]]\nlog='b'\noutput='y.prom'\nlabels={state='x'}\n",
            ":7: job #2: labels: 'state' is used by the metrics themselves",
        ),
        ("debounce_seconds = 'soon'\n", ":1: debounce_seconds: must be a number"),
        ("[[job]\n", "Expected"),
        ("intervall = 3\n[[job]]\nlog='a'\noutput='b.prom'\n", ":1: intervall: unknown key"),
    ],
)
def test_config_errors_name_file_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "exporter.toml"
    path.write_text(text)
    with pytest.raises(Exception) as raised:
        load_config(path)
    assert str(path) in str(raised.value) and message in str(raised.value)


def test_the_command_tells_systemd_it_is_ready_and_stops_on_sigterm(tmp_path: Path) -> None:
    log = tmp_path / "home.log"
    log.write_text(GOOD)
    config = tmp_path / "exporter.toml"
    config.write_text(f'[[job]]\nlog = "{log}"\noutput = "{tmp_path / "home.prom"}"\n')
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify_socket:
        notify_socket.bind(str(tmp_path / "notify.sock"))
        notify_socket.settimeout(20)
        env = {
            **os.environ,
            "NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
            "JOURNAL_STREAM": "1:1",
        }
        process = subprocess.Popen(
            [Path(sys.executable).parent / "restic-textfile-exporter", "watch", "-c", config],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert notify_socket.recv(4096).decode().startswith("READY=1")
            process.send_signal(__import__("signal").SIGHUP)
            assert notify_socket.recv(4096).decode().startswith("RELOADING=1")
            assert notify_socket.recv(4096).decode().startswith("READY=1")
            process.terminate()
            _, stderr = process.communicate(timeout=20)
        finally:
            process.kill()
    assert process.returncode == 0, stderr
    assert "<6>watching 1 log(s)" in stderr.splitlines()


def test_the_command_refuses_a_bad_config_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "exporter.toml"
    config.write_text("[[job]]\nlog = 'a'\n")
    result = subprocess.run(
        [Path(sys.executable).parent / "restic-textfile-exporter", "watch", "-c", config],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"restic-textfile-exporter: error: {config}:1: job #1: output: is required and must be a "
        "path (a string)"
    ]


@pytest.mark.parametrize("kind", ["binary", "directory", "fifo"])
def test_a_bad_log_is_reported_and_the_other_jobs_go_on(tmp_path: Path, kind: str) -> None:
    bad = tmp_path / "bad.log"
    if kind == "binary":
        bad.write_bytes(b"\x00\xff" * 1000)
    elif kind == "directory":
        bad.mkdir()
    else:
        os.mkfifo(bad)  # opening it for reading would block the daemon for good
    (tmp_path / "good.log").write_text(FAILED)
    with daemon(_config(tmp_path, "bad", "good")):
        wait_for(
            lambda: metric(tmp_path / "bad.prom", "restic_exporter_parse_success", job="bad") == 0
        )
        with (tmp_path / "good.log").open("a") as out:
            out.write(GOOD)
        wait_for(lambda: metric(tmp_path / "good.prom", "restic_backup_success", job="good") == 1)


def test_a_log_replaced_by_a_directory_does_not_stop_the_daemon(tmp_path: Path) -> None:
    log, prom = tmp_path / "home.log", tmp_path / "home.prom"
    log.write_text(GOOD)
    (tmp_path / "other.log").write_text(GOOD)
    with daemon(_config(tmp_path, "home", "other")):
        wait_for(lambda: metric(prom, "restic_backup_success", job="home") == 1)
        log.unlink()
        log.mkdir()
        with (tmp_path / "other.log").open("a") as out:
            out.write(FAILED)
        wait_for(lambda: metric(tmp_path / "other.prom", "restic_backup_success", job="other") == 0)


def test_a_log_directory_that_appears_later_is_watched(tmp_path: Path) -> None:
    logs = tmp_path / "var" / "log" / "restic"
    config = Config((Job(logs / "home.log", tmp_path / "home.prom", {"job": "home"}),), 0.05)
    with daemon(config):
        wait_for(
            lambda: metric(tmp_path / "home.prom", "restic_exporter_parse_success", job="home") == 0
        )
        logs.mkdir(parents=True)
        (logs / "home.log").write_text(GOOD)
        wait_for(lambda: metric(tmp_path / "home.prom", "restic_backup_success", job="home") == 1)


def test_a_reload_that_fails_keeps_the_daemon_running(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text(GOOD)

    def broken() -> Config:
        raise OSError("config vanished")

    loads: list[Callable[[], Config]] = [lambda: _config(tmp_path, "a"), broken]
    with daemon(lambda: loads.pop(0)() if len(loads) > 1 else loads[0]()) as running:
        wait_for(lambda: (tmp_path / "a.prom").exists())
        running.request_reload()
        time.sleep(0.3)
        with (tmp_path / "a.log").open("a") as out:
            out.write(FAILED)
        wait_for(lambda: metric(tmp_path / "a.prom", "restic_backup_success", job="a") == 0)


def test_reading_a_log_does_not_rewrite_its_metrics(tmp_path: Path) -> None:
    log, prom = tmp_path / "home.log", tmp_path / "home.prom"
    log.write_text(GOOD)
    with daemon(_config(tmp_path, "home")):
        wait_for(lambda: prom.exists())
        time.sleep(0.3)
        before = prom.stat().st_mtime_ns
        log.read_text()  # opened and closed without writing: cat, logrotate, a backup of /var/log
        time.sleep(0.5)
        assert prom.stat().st_mtime_ns == before


def test_the_first_backup_running_is_neither_success_nor_failure(tmp_path: Path) -> None:
    log, prom = tmp_path / "home.log", tmp_path / "home.prom"
    log.write_text(RUNNING_JSON)
    with daemon(_config(tmp_path, "home")):
        wait_for(lambda: metric(prom, "restic_backup_running", job="home") == 1)
        assert metric(prom, "restic_backup_success", job="home") is None
        assert metric(prom, "restic_exporter_parse_success", job="home") is None


def test_a_restart_during_a_backup_keeps_the_last_outcome(tmp_path: Path) -> None:
    log, prom = tmp_path / "home.log", tmp_path / "home.prom"
    log.write_text(GOOD + RUNNING_JSON)
    config = _config(tmp_path, "home", state=True)
    with daemon(config):
        wait_for(lambda: metric(prom, "restic_backup_running", job="home") == 1)
        assert metric(prom, "restic_backup_success", job="home") == 1
    prom.unlink()
    with daemon(config):  # resumes at the finished run before the running one
        wait_for(lambda: metric(prom, "restic_backup_running", job="home") == 1)
        assert metric(prom, "restic_backup_success", job="home") == 1


def test_a_check_at_work_is_not_a_failed_check(tmp_path: Path) -> None:
    log, prom = tmp_path / "home.log", tmp_path / "home.prom"
    log.write_text("using temporary cache in /tmp/c\ncreate exclusive lock for repository\n")
    with daemon(_config(tmp_path, "home")):
        wait_for(
            lambda: metric(prom, "restic_check_last_run_timestamp_seconds", job="home") is not None
        )
        assert metric(prom, "restic_check_success", job="home") is None
        with log.open("a") as out:
            out.write("load indexes\ncheck all packs\n\nno errors were found\n")
        wait_for(lambda: metric(prom, "restic_check_success", job="home") == 1)


def test_partial_ok_in_the_config(tmp_path: Path) -> None:
    partial = (FIXTURES / "restic-0.14" / "backup4_warn.log").read_text()
    config_file = tmp_path / "exporter.toml"
    config_file.write_text(
        f'[[job]]\nlog = "{tmp_path / "a.log"}"\noutput = "{tmp_path / "a.prom"}"\n'
        "partial_ok = true\n"
        f'[[job]]\nlog = "{tmp_path / "b.log"}"\noutput = "{tmp_path / "b.prom"}"\n'
    )
    (tmp_path / "a.log").write_text(partial)
    (tmp_path / "b.log").write_text(partial)
    with daemon(lambda: load_config(config_file)):
        wait_for(lambda: metric(tmp_path / "a.prom", "restic_backup_success") == 1)
        wait_for(lambda: metric(tmp_path / "b.prom", "restic_backup_success") == 0)


def test_a_symlinked_log_is_followed_through_its_target(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "2026-11-22.log"
    target.write_text(GOOD)
    (tmp_path / "home.log").symlink_to(target)
    prom = tmp_path / "home.prom"
    with daemon(_config(tmp_path, "home")):
        wait_for(lambda: metric(prom, "restic_backup_success", job="home") == 1)
        with target.open("a") as out:
            out.write(FAILED)
        wait_for(lambda: metric(prom, "restic_backup_success", job="home") == 0)


def test_too_few_open_files_for_the_jobs_is_said_and_the_daemon_goes_on(tmp_path: Path) -> None:
    """Every job keeps its log open: with a hard limit too low for them all, the daemon says
    so at start, and every job it can follow is still followed."""
    import resource

    jobs = 40
    lines = []
    for number in range(jobs):
        log = tmp_path / f"j{number}.log"
        log.write_text(GOOD)
        lines.append(f'[[job]]\nlog = "{log}"\noutput = "{tmp_path / f"j{number}.prom"}"\n')
    config = tmp_path / "exporter.toml"
    config.write_text("debounce_seconds = 0\n" + "".join(lines))

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    process = subprocess.Popen(
        [Path(sys.executable).parent / "restic-textfile-exporter", "watch", "-c", config],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limit,
    )
    try:
        wait_for(lambda: metric(tmp_path / "j0.prom", "restic_backup_success") == 1, timeout=30)
        (tmp_path / "j0.log").write_text(FAILED)
        wait_for(lambda: metric(tmp_path / "j0.prom", "restic_backup_success") == 0, timeout=30)
        process.terminate()
        _, stderr = process.communicate(timeout=20)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 0, stderr
    assert "need about 144 open files, and the limit is 64: raise LimitNOFILE=" in stderr


def test_a_change_that_waits_for_the_debouncer_is_read_at_once_and_published_when_due(
    tmp_path: Path,
) -> None:
    """A log written without pause is published once per debounce window; what it gets between
    publications is read as it comes, so that a publication, when due, has little left to
    read and the .prom is about one window behind, not a window plus a long read."""
    log, prom = tmp_path / "home.log", tmp_path / "home.prom"
    log.write_text(GOOD)
    config = Config((Job(log, prom, {"job": "home"}),), debounce_seconds=3600)
    with daemon(config) as running:
        wait_for(lambda: metric(prom, "restic_backup_success", job="home") == 1)
        with log.open("a") as out:
            out.write(FAILED)  # the first change after a quiet hour: published at once
        wait_for(lambda: metric(prom, "restic_backup_success", job="home") == 0)
        published = prom.read_bytes()
        with log.open("a") as out:
            out.write(GOOD)  # due in an hour
        lines = (GOOD + FAILED + GOOD).count("\n")
        follower = running._runners[str(prom)].follower
        wait_for(lambda: follower.parser.lines == lines)
        assert prom.read_bytes() == published
