"""Inputs that must always end: a log that is a device, an endless stream, a config that is a
FIFO, /dev/zero or nested 50,000 deep; and one file in two roles, however it is spelled."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.config import ConfigError, load_config
from exporter.errors import LogNotUnderstood, LogUnreadable
from exporter.logsource import MAX_LOG_BYTES, open_log
from exporter.paths import describe_os_error, same_file

# --- logs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "complaint"),
    [
        ("/dev/zero", "it is a character device, not a log"),
        ("/dev/null", "it is a character device, not a log"),
        ("/", "it is a directory"),
        ("/no/such/log", "no such file"),
    ],
)
def test_a_log_that_is_not_a_file_or_stream_is_unreadable(name: str, complaint: str) -> None:
    with pytest.raises(LogUnreadable, match=f"^cannot read log {name}: {complaint}"):
        open_log(name)


def _read_all(name: str, max_bytes: int) -> int:
    source = open_log(name, max_bytes=max_bytes)
    try:
        return sum(1 for _ in source.lines())
    finally:
        source.close()


@pytest.fixture
def endless_fifo(tmp_path: Path) -> Iterator[Path]:
    """A FIFO whose writer writes bytes without a newline until the reader goes away."""
    fifo = tmp_path / "endless.log"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "wb") as out:
            try:
                while True:
                    out.write(b"x" * 65536)
            except BrokenPipeError:
                pass

    writer = threading.Thread(target=write)
    writer.start()
    yield fifo
    writer.join(timeout=30)
    assert not writer.is_alive()


def test_an_endless_stream_without_newlines_stops_at_the_bound(endless_fifo: Path) -> None:
    with pytest.raises(LogNotUnderstood, match="is larger than 8388608 bytes: stopped reading"):
        _read_all(str(endless_fifo), max_bytes=8 * 1024 * 1024)


def test_a_log_within_the_bound_is_read_whole(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"line\n" * 1000)
    assert _read_all(str(log), max_bytes=5000) == 1000
    with pytest.raises(LogNotUnderstood):
        _read_all(str(log), max_bytes=4999)
    assert MAX_LOG_BYTES == 64 * 1024**3


@pytest.mark.parametrize("round_", range(20))
def test_a_fifo_log_still_waits_for_its_writer(tmp_path: Path, round_: int) -> None:
    """Whether the writer comes before or after the reader opens, and even if it has gone."""
    fifo = tmp_path / "restic.log"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "wb") as out:
            out.write(b"one\ntwo\n")

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert _read_all(str(fifo), max_bytes=MAX_LOG_BYTES) == 2
    finally:
        writer.join(timeout=30)


# --- the watch config ---------------------------------------------------------------------------


def test_a_config_fifo_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "watch.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="it is not a regular file"):
        load_config(fifo)


def test_dev_zero_as_config_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^cannot read config /dev/zero: it is not a regular"):
        load_config(Path("/dev/zero"))


def test_a_config_over_one_mib_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "watch.toml"
    config.write_text("# padding\n" * 110_000)
    with pytest.raises(ConfigError, match="larger than 1048576 bytes"):
        load_config(config)


def test_values_nested_50000_deep_are_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "watch.toml"
    config.write_text("a = " + "[" * 50_000 + "]" * 50_000 + "\n")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config(config)


def test_a_missing_config_is_said_in_words() -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(Path("/x.toml"))
    assert str(raised.value) == "cannot read config /x.toml: no such file"


def test_a_config_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "watch.toml"
    config.write_bytes(b"a = '\xff'\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(config)


def _jobs(tmp_path: Path, *jobs: tuple[str, str], state_file: str | None = None) -> Path:
    text = f'state_file = "{state_file}"\n' if state_file else ""
    for log, output in jobs:
        text += f'[[job]]\nlog = "{log}"\noutput = "{output}"\n'
    config = tmp_path / "watch.toml"
    config.write_text(text)
    return config


@pytest.mark.parametrize(
    ("jobs", "state_file", "complaint"),
    [
        ([("a.log", "a.log")], None, "job #1: output: {t}/a.log is also the log of job #1"),
        (
            [("a.log", "tf/same.prom"), ("b.log", "tf/../tf/same.prom")],
            None,
            "job #2: output: {t}/tf/../tf/same.prom is also the output of job #1",
        ),
        (
            [("a.log", "tf/same.prom"), ("b.log", "{t}/tf/same.prom")],
            None,
            "job #2: output: {t}/tf/same.prom is also the output of job #1",
        ),
        ([("a.log", "a.prom")], "a.log", "job #1: log: {t}/a.log is also the state_file"),
        ([("a.log", "a.prom")], "a.prom", "job #1: output: {t}/a.prom is also the state_file"),
        ([("a.log", "watch.toml")], None, "output: {t}/watch.toml is also the config file"),
        ([("b.log", "b.prom"), ("a.log", "b.log")], None, "is also the log of job #1"),
    ],
)
def test_one_file_in_two_roles_is_refused(
    tmp_path: Path, jobs: list[tuple[str, str]], state_file: str | None, complaint: str
) -> None:
    (tmp_path / "tf").mkdir()
    (tmp_path / "a.log").write_text("")
    spelled = [(f"{tmp_path}/{log}", output.replace("{t}", str(tmp_path))) for log, output in jobs]
    spelled = [
        (log, output if output.startswith("/") else f"{tmp_path}/{output}")
        for log, output in spelled
    ]
    state = f"{tmp_path}/{state_file}" if state_file else None
    with pytest.raises(ConfigError, match="give each its own file") as raised:
        load_config(_jobs(tmp_path, *spelled, state_file=state))
    assert complaint.format(t=tmp_path) in str(raised.value)


def test_two_jobs_may_read_one_log(tmp_path: Path) -> None:
    config = _jobs(tmp_path, ("a.log", "a.prom"), ("a.log", "b.prom"))
    assert len(load_config(config).jobs) == 2


# --- paths --------------------------------------------------------------------------------------


def test_same_file_by_inode_and_by_spelling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tf").mkdir()
    (tmp_path / "home.log").write_text("")
    (tmp_path / "alias.log").symlink_to("home.log")
    os.link(tmp_path / "home.log", tmp_path / "hard.log")
    assert same_file(Path("home.log"), tmp_path / "home.log")
    assert same_file(Path("alias.log"), Path("home.log"))
    assert same_file(Path("hard.log"), Path("home.log"))
    assert same_file(Path("tf/same.prom"), Path("tf/../tf/same.prom"))  # neither exists
    assert same_file(Path("tf/same.prom"), tmp_path / "tf" / "same.prom")
    assert same_file(Path("tf/./same.prom"), Path("tf//same.prom"))
    assert not same_file(Path("tf/a.prom"), Path("tf/b.prom"))
    assert not same_file(Path("home.log"), Path("tf/home.log"))
    assert not same_file(Path("home.log"), Path("other.log"))


def test_describe_os_error_says_it_in_words() -> None:
    assert describe_os_error(FileNotFoundError(2, "No such file or directory", "/x")) == (
        "no such file"
    )
    assert describe_os_error(IsADirectoryError(21, "Is a directory")) == "it is a directory"
    assert describe_os_error(PermissionError(13, "Permission denied")) == "permission denied"
    assert describe_os_error(OSError(5, "Input/output error")) == "Input/output error"


def test_parse_dev_zero_ends_at_once_with_exit_3(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "parse", "/dev/zero", "-o", tmp_path / "out.prom"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 3, result.stderr
    assert b"cannot read log /dev/zero: it is a character device, not a log" in result.stderr
