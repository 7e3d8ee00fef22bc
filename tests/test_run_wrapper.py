"""``run``: the real restic wrapped, its output passed through, exact exit codes and times, live
progress, forwarded signals, and healthchecks-style pings.

No healthchecks server can run here: the pings go to an HTTP server in this test that records
what it receives (the protocol is plain HTTP; its paths and query are what is checked)."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import require_program
from helpers import value, wait_for
from restic_runs import PASSWORD
from servers import free_port

COMMAND = [sys.executable, "-c", "from exporter.cli import main; main()"]


@dataclass
class Repository:
    path: Path
    source: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Repository:
    require_program("restic")
    base = tmp_path_factory.mktemp("wrapped")
    env = {
        **os.environ,
        "RESTIC_PASSWORD": PASSWORD,
        "RESTIC_REPOSITORY": str(base / "repo"),
        "RESTIC_CACHE_DIR": str(base / "cache"),
    }
    env.pop("RESTIC_PROGRESS_FPS", None)
    subprocess.run(["restic", "init", "-q"], env=env, check=True, capture_output=True, timeout=60)
    source = base / "src"
    source.mkdir()
    (source / "small").write_bytes(os.urandom(7168))
    (source / "big").write_bytes(os.urandom(3 * 1024 * 1024))
    return Repository(base / "repo", source, env)


def _run(
    tmp_path: Path, repo: Repository, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*COMMAND, "run", *args],
        env={**repo.env, **(env or {})},
        capture_output=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )


def _snapshots(repo: Repository) -> list[dict[str, object]]:
    listed = subprocess.run(
        ["restic", "snapshots", "--json"], env=repo.env, capture_output=True, check=True
    )
    snapshots: list[dict[str, object]] = json.loads(listed.stdout)
    return snapshots


def test_a_backup_through_the_wrapper(tmp_path: Path, repository: Repository) -> None:
    prom, log = tmp_path / "home.prom", tmp_path / "home.log"
    before = time.time()
    result = _run(
        tmp_path,
        repository,
        "-o", str(prom), "-l", "backup=home", "--log", str(log), "--",
        "restic", "backup", str(repository.source / "small"),
    )  # fmt: skip
    after = time.time()
    assert result.returncode == 0, result.stderr
    assert log.read_bytes() == result.stdout + result.stderr.split(b"restic-textfile-exporter")[0]
    text = prom.read_text()
    snapshot = _snapshots(repository)[-1]
    assert f"snapshot {snapshot['short_id']!s} saved".encode() in result.stdout
    assert value(text, "restic_backup_success", backup="home") == 1
    assert value(text, "restic_backup_exit_code", backup="home") == 0
    last_run = value(text, "restic_backup_last_run_timestamp_seconds", backup="home")
    assert last_run is not None and before <= last_run <= after


def test_output_passes_through_byte_for_byte(tmp_path: Path, repository: Repository) -> None:
    """Partial lines, invalid UTF-8, carriage returns, no final newline: the same bytes, on the
    same streams, as the command wrote them."""
    script = (
        "import sys, time\n"
        "o, e = sys.stdout.buffer, sys.stderr.buffer\n"
        'o.write(b\'{"message_type":"status","percent_done":0.5}\\n\'); o.flush()\n'
        "e.write(b'warn \\xff\\xfe\\r\\n'); e.flush()\n"
        "o.write(b'partial'); o.flush(); time.sleep(0.05)\n"
        "o.write(b' line\\nno newline at the end')\n"
        "sys.exit(3)\n"
    )
    direct = subprocess.run([sys.executable, "-c", script], capture_output=True, check=False)
    wrapped = _run(tmp_path, repository, "-q", "-o", "out.prom", "--", sys.executable, "-c", script)
    assert wrapped.returncode == direct.returncode == 3
    assert wrapped.stdout == direct.stdout
    assert wrapped.stderr == direct.stderr


def test_json_output_is_the_same_for_a_consumer(tmp_path: Path, repository: Repository) -> None:
    prom = tmp_path / "home.prom"
    result = _run(
        tmp_path, repository, "-o", str(prom), "--",
        "restic", "backup", "--json", str(repository.source / "small"),
    )  # fmt: skip
    assert result.returncode == 0
    messages = [json.loads(line) for line in result.stdout.splitlines()]
    summary = messages[-1]
    assert summary["message_type"] == "summary"
    assert str(_snapshots(repository)[-1]["id"]).startswith(summary["snapshot_id"])
    assert (
        value(prom.read_text(), "restic_backup_files", state="unmodified")
        == (summary["files_unmodified"])
    )


def test_a_failed_backup_keeps_restics_exit_code(tmp_path: Path, repository: Repository) -> None:
    prom = tmp_path / "home.prom"
    result = _run(
        tmp_path, repository, "-o", str(prom), "--",
        "restic", "backup", str(repository.source / "small"),
        env={"RESTIC_PASSWORD": "wrong"},
    )  # fmt: skip
    direct = subprocess.run(
        ["restic", "backup", str(repository.source)],
        env={**repository.env, "RESTIC_PASSWORD": "wrong"},
        capture_output=True,
        check=False,
    )
    assert result.returncode == direct.returncode != 0
    assert value(prom.read_text(), "restic_backup_exit_code") == direct.returncode
    assert value(prom.read_text(), "restic_backup_success") == 0


def test_a_command_that_does_not_exist_exits_127(tmp_path: Path, repository: Repository) -> None:
    result = _run(tmp_path, repository, "-o", "out.prom", "--", "no-such-restic-anywhere", "backup")
    assert result.returncode == 127
    assert b"cannot run 'no-such-restic-anywhere'" in result.stderr


def _slow_backup(tmp_path: Path, repo: Repository, prom: Path) -> subprocess.Popen[bytes]:
    """A backup that takes a while (its upload limited) and prints status lines."""
    return subprocess.Popen(
        [
            *COMMAND, "run", "-o", str(prom), "--progress", "--progress-interval", "0.5",
            "--", "restic", "backup", "--limit-upload", "256", str(repo.source / "big"),
        ],
        env=repo.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )  # fmt: skip


def _running(prom: Path) -> bool:
    """Running, with a status line read."""
    try:
        text = prom.read_text()
    except FileNotFoundError:
        return False
    running = value(text, "restic_backup_running") == 1
    return running and value(text, "restic_backup_progress_bytes") is not None


def test_progress_shows_while_it_runs_and_sigint_is_forwarded(
    tmp_path: Path, repository: Repository
) -> None:
    prom = tmp_path / "home.prom"
    wrapper = _slow_backup(tmp_path, repository, prom)
    try:
        wait_for(lambda: _running(prom), timeout=30)
        text = prom.read_text()
        started = value(text, "restic_backup_started_timestamp_seconds")
        assert started is not None and started <= time.time()
        assert value(text, "restic_backup_success") is None  # not known while it runs
        wrapper.send_signal(signal.SIGINT)
        assert wrapper.wait(timeout=30) == 130
    finally:
        wrapper.kill()
        wrapper.wait()
    text = prom.read_text()
    assert value(text, "restic_backup_running") is None
    assert value(text, "restic_backup_success") == 0
    assert value(text, "restic_backup_exit_code") == 130


def test_a_killed_wrapper_leaves_metrics_that_say_it_did_not_finish(
    tmp_path: Path, repository: Repository
) -> None:
    prom = tmp_path / "home.prom"
    wrapper = _slow_backup(tmp_path, repository, prom)
    try:
        wait_for(lambda: _running(prom), timeout=30)
        wrapper.kill()
        wrapper.wait(timeout=30)
    finally:
        wrapper.kill()
        wrapper.wait()
    text = prom.read_text()
    assert value(text, "restic_backup_running") == 1
    assert value(text, "restic_backup_success") is None
    # The next run of the same output is correct.
    result = _run(
        tmp_path, repository, "-o", str(prom), "--",
        "restic", "backup", str(repository.source / "small"),
    )  # fmt: skip
    assert result.returncode == 0
    assert value(prom.read_text(), "restic_backup_success") == 1
    assert value(prom.read_text(), "restic_backup_running") is None


@dataclass
class _Recorder:
    requests: list[tuple[str, bytes]] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def ping_server() -> Iterator[tuple[str, _Recorder]]:
    recorder = _Recorder()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            recorder.requests.append((self.path, self.rfile.read(length)))
            self.send_response(recorder.status)
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/ping/abc", recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_pings_pair_start_and_end(
    tmp_path: Path, repository: Repository, ping_server: tuple[str, _Recorder]
) -> None:
    url, recorder = ping_server
    ok = _run(tmp_path, repository, "-o", "p.prom", "--ping", url, "--", "restic", "snapshots")
    assert ok.returncode == 0
    failed = _run(
        tmp_path, repository, "-o", "p.prom", "--ping", url, "--", "restic", "snapshots",
        env={"RESTIC_PASSWORD": "wrong"},
    )  # fmt: skip
    paths = [path for path, _ in recorder.requests]
    assert len(paths) == 4
    (start1, end1, start2, end2) = paths
    rid1, rid2 = start1.split("rid=")[1], start2.split("rid=")[1]
    assert rid1 != rid2
    assert start1 == f"/ping/abc/start?rid={rid1}" and end1 == f"/ping/abc?rid={rid1}"
    assert start2 == f"/ping/abc/start?rid={rid2}"
    assert end2 == f"/ping/abc/{failed.returncode}?rid={rid2}"
    assert b"wrong password" in recorder.requests[3][1]


def test_a_ping_that_fails_never_changes_the_exit_code(
    tmp_path: Path, repository: Repository, ping_server: tuple[str, _Recorder]
) -> None:
    url, recorder = ping_server
    recorder.status = 404
    result = _run(tmp_path, repository, "-o", "p.prom", "--ping", url, "--", "restic", "snapshots")
    assert result.returncode == 0
    assert b"ping http://127.0.0.1" in result.stderr and b"HTTP 404" in result.stderr
    dead = f"http://127.0.0.1:{free_port()}/nobody-listens"
    started = time.monotonic()
    result = _run(tmp_path, repository, "-o", "p.prom", "--ping", dead, "--", "restic", "snapshots")
    assert result.returncode == 0
    assert result.stderr.count(b"failed after 3 attempt(s)") == 2  # start and end
    assert time.monotonic() - started < 30


def test_a_failure_with_no_restic_output_is_a_failure_not_the_last_report(
    tmp_path: Path, repository: Repository
) -> None:
    """After a good run, a command that fails before restic prints a word (cron's PATH) or
    cannot be started at all is a failed run, with its exit code; never "nothing new"."""
    prom = tmp_path / "home.prom"
    ok = _run(tmp_path, repository, "-o", str(prom), "--",
              "restic", "backup", str(repository.source / "small"))  # fmt: skip
    assert ok.returncode == 0 and value(prom.read_text(), "restic_backup_success") == 1
    script = "echo 'restic: command not found' >&2; exit 127"
    failed = _run(tmp_path, repository, "-o", str(prom), "--", "sh", "-c", script)
    assert failed.returncode == 127
    assert value(prom.read_text(), "restic_backup_success") == 0
    assert value(prom.read_text(), "restic_backup_exit_code") == 127
    _run(tmp_path, repository, "-o", str(prom), "--", "restic", "snapshots")
    missing = _run(tmp_path, repository, "-o", str(prom), "--", "/no/such/restic", "backup")
    assert missing.returncode == 127
    assert value(prom.read_text(), "restic_backup_exit_code") == 127


def test_the_same_failure_twice_is_two_runs_with_their_own_times(
    tmp_path: Path, repository: Repository
) -> None:
    prom = tmp_path / "home.prom"
    times = []
    for _ in range(2):
        started = time.time()
        result = _run(tmp_path, repository, "-o", str(prom), "--",
                      "restic", "snapshots", env={"RESTIC_PASSWORD": "wrong"})  # fmt: skip
        assert result.returncode != 0
        last_run = value(prom.read_text(), "restic_backup_last_run_timestamp_seconds")
        assert last_run is not None and last_run >= started
        times.append(last_run)
    assert times[1] > times[0]


def test_a_fifo_as_the_log_neither_blocks_nor_is_written(
    tmp_path: Path, repository: Repository
) -> None:
    fifo = tmp_path / "log"
    os.mkfifo(fifo)
    result = _run(tmp_path, repository, "-o", str(tmp_path / "a.prom"), "--log", str(fifo),
                  "--", "sh", "-c", "echo hi")  # fmt: skip
    assert result.returncode == 0 and result.stdout == b"hi\n"
    assert b"cannot append to" in result.stderr and b"running without it" in result.stderr


def test_a_process_left_behind_holding_stdout_does_not_hold_the_wrapper(
    tmp_path: Path, repository: Repository
) -> None:
    started = time.monotonic()
    result = _run(tmp_path, repository, "-o", str(tmp_path / "a.prom"), "--",
                  "sh", "-c", "sleep 30 & echo done")  # fmt: skip
    assert result.returncode == 0 and b"done" in result.stdout
    assert time.monotonic() - started < 15


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--ping", "http://[::1", "-o", "x.prom"], "is not a URL"),
        (["--ping", "ftp://example.org/x", "-o", "x.prom"], "is not an http:// or https:// URL"),
        ([], "give --output PATH.prom or --push URL"),
    ],
)
def test_usage_mistakes_are_one_line_and_exit_2(
    tmp_path: Path, repository: Repository, args: list[str], complaint: str
) -> None:
    result = _run(tmp_path, repository, *args, "--", "true")
    assert result.returncode == 2
    assert complaint.encode() in result.stderr and result.stderr.count(b"\n") == 1


def _fixture_logs() -> list[Path]:
    root = Path(__file__).parent / "fixtures"
    return sorted(
        path
        for path in root.rglob("*")
        if path.suffix in (".log", ".json") and ".expected." not in path.name
    )


@pytest.mark.parametrize("chunk", [7, 4096, 65536])
def test_the_wrapper_parses_what_parse_parses(chunk: int) -> None:
    """run reads the command's output from a pipe in chunks and parses only the lines that can
    matter (exporter.fast_scan): the same records as reading the log line by line."""
    import io

    from exporter.logsource import LogSource
    from exporter.run_wrapper import _Feed
    from parsers.log import LogParser

    for log in _fixture_logs():
        data = log.read_bytes()
        slow = LogParser()
        for line in LogSource(log.name, io.BytesIO(data)).lines():
            slow.feed(line)
        feed, partial = _Feed(log.name), bytearray()
        for start in range(0, len(data), chunk):
            feed.add(partial, data[start : start + chunk])
        if partial:
            feed.add(partial, b"\n")
        assert feed.parser.lines == slow.lines, log
        assert feed.parser.result() == slow.result(), log
