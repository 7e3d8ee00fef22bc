"""The parse command through CliRunner: options, exit codes, bad input, carry-forward."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FIXTURES
from helpers import samples, value
from typer.testing import CliRunner, Result

from exporter.cli import app

GOOD_LOG = FIXTURES / "restic-0.14" / "backup1.log"
FAILED_LOG = FIXTURES / "restic-0.14" / "fatal_pw.log"
JSON_LOG = FIXTURES / "versions" / "v0.18.0-success.json"


def invoke(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(app, ["parse", *args], input=stdin, env=env)
    # No exception escaped as a crash: only our own exits (SystemExit) are allowed.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_metrics_go_to_stdout_without_output() -> None:
    result = invoke(str(GOOD_LOG))
    assert result.exit_code == 0, result.output
    assert value(result.stdout, "restic_backup_success") == 1
    assert value(result.stdout, "restic_backup_files", state="new") == 4838
    assert value(result.stdout, "restic_backup_added_bytes") == 126837850
    assert result.stderr == ""


def test_dash_reads_stdin_and_dates_the_run_now() -> None:
    before = time.time()
    result = invoke("-", stdin=GOOD_LOG.read_bytes())
    after = time.time()
    assert result.exit_code == 0, result.output
    last_run = value(result.stdout, "restic_backup_last_run_timestamp_seconds")
    assert last_run is not None and before <= last_run <= after


def test_last_run_is_the_log_mtime(tmp_path: Path) -> None:
    log = tmp_path / "backup.log"
    log.write_bytes(GOOD_LOG.read_bytes())
    os.utime(log, (1700000000, 1700000000))
    result = invoke(str(log), "-o", str(tmp_path / "r.prom"))
    assert result.exit_code == 0, result.output
    text = (tmp_path / "r.prom").read_text()
    assert value(text, "restic_backup_last_run_timestamp_seconds") == 1700000000
    assert value(text, "restic_backup_last_success_timestamp_seconds") == 1700000000


def test_json_backup_end_beats_the_mtime() -> None:
    result = invoke(str(JSON_LOG))
    assert value(result.stdout, "restic_backup_last_run_timestamp_seconds") == 1795140002.623456
    assert value(result.stdout, "restic_backup_stored_bytes") == 3000


def test_every_metric_carries_every_label(tmp_path: Path) -> None:
    result = invoke(str(GOOD_LOG), "-l", "job=home", "--label", "host=nas")
    assert result.exit_code == 0, result.output
    names = set()
    for (name, labels), _ in samples(result.stdout).items():
        names.add(name)
        assert ("host", "nas") in labels and ("job", "home") in labels, name
    assert len(names) >= 14


def test_hostile_label_value_is_escaped_not_injected(tmp_path: Path) -> None:
    hostile = 'a"b\\c\nrestic_backup_success{job="x"} 1\n# TYPE x counter'
    prom = tmp_path / "hostile.prom"
    result = invoke(str(FAILED_LOG), "-o", str(prom), "-l", f"job={hostile}")
    assert result.exit_code == 0, result.output
    text = prom.read_text()
    assert value(text, "restic_backup_success", job=hostile) == 0
    assert len([k for k in samples(text) if k[0] == "restic_backup_success"]) == 1


@pytest.mark.parametrize(
    ("label", "complaint"),
    [
        ("job", "is not NAME=VALUE"),
        ("1job=x", "is not a Prometheus label name"),
        ("__name__=x", "is not a Prometheus label name"),
        ("job-name=x", "is not a Prometheus label name"),
        ("state=x", "is used by the metrics themselves"),
        ("type=x", "is used by the metrics themselves"),
    ],
)
def test_bad_labels_are_usage_errors(label: str, complaint: str, tmp_path: Path) -> None:
    result = invoke(str(GOOD_LOG), "-o", str(tmp_path / "x.prom"), "-l", label)
    assert result.exit_code == 2
    assert complaint in result.stderr
    assert not (tmp_path / "x.prom").exists()


def test_a_label_given_twice_is_a_usage_error() -> None:
    result = invoke(str(GOOD_LOG), "-l", "job=a", "-l", "job=b")
    assert result.exit_code == 2 and "given twice" in result.stderr


@pytest.mark.parametrize(
    ("args", "env", "exit_code", "success"),
    [
        ([], {}, 0, 1),
        (["--exit-code", "3"], {}, 3, 0),
        (["--exit-code", "0"], {"EXIT_STATUS": "1"}, 0, 1),  # the option beats the environment
        ([], {"EXIT_STATUS": "1"}, 1, 0),
        ([], {"EXIT_STATUS": "TERM"}, 143, 0),  # systemd gives a signal's name when killed
        ([], {"EXIT_STATUS": "SIGKILL"}, 137, 0),
        ([], {"EXIT_STATUS": "RTMIN+3"}, 128 + 34 + 3, 0),  # systemd names realtime signals so
        ([], {"EXIT_STATUS": "SIGRTMAX-1"}, 128 + 64 - 1, 0),
    ],
)
def test_exit_code_from_option_or_systemd(
    args: list[str], env: dict[str, str], exit_code: int, success: int
) -> None:
    result = invoke(str(GOOD_LOG), *args, env=env)
    assert result.exit_code == 0, result.output
    assert value(result.stdout, "restic_backup_exit_code") == exit_code
    assert value(result.stdout, "restic_backup_success") == success


@pytest.mark.parametrize("bad", ["256", "-1", "FOO", "3.5", "RTMIN+99", "RTMAX+1", "SIG_DFL"])
def test_bad_exit_code_is_a_usage_error(bad: str) -> None:
    result = invoke(str(GOOD_LOG), f"--exit-code={bad}")
    assert result.exit_code == 2
    assert "neither an exit code" in result.stderr


@pytest.mark.parametrize("spelling", ["same", "relative", "dotdot", "link"])
def test_the_log_is_never_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    """``parse home.log -o home.log`` would replace the user's log with metrics."""
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "home.log"
    log.write_bytes(GOOD_LOG.read_bytes())
    (tmp_path / "sub").mkdir()
    (tmp_path / "alias.log").symlink_to(log)
    output = {
        "same": str(log),
        "relative": "home.log",
        "dotdot": "sub/../home.log",
        "link": str(tmp_path / "alias.log"),
    }[spelling]
    result = invoke(str(log), "-o", output)
    assert result.exit_code == 2 and "is the log itself" in result.stderr
    assert log.read_bytes() == GOOD_LOG.read_bytes()


def _bad_inputs(tmp: Path) -> dict[str, tuple[Path, int, str]]:
    """name -> (log, our exit code, what the error line says)."""
    (tmp / "empty.log").write_bytes(b"")
    (tmp / "binary.log").write_bytes(bytes(range(256)) * 64 + b"\x00\xff\xfe" * 1000)
    (tmp / "huge-line.log").write_bytes(b"x" * (100 * 1024 * 1024))
    (tmp / "cut.log").write_bytes(GOOD_LOG.read_bytes()[:120])
    (tmp / "a-directory").mkdir()
    corrupt = b'{"message_type":"summary","files_new":"many"}\n'
    (tmp / "corrupt.json").write_bytes(corrupt)
    return {
        "missing": (tmp / "does-not-exist.log", 3, "no such file"),
        "directory": (tmp / "a-directory", 3, "it is a directory"),
        "empty": (tmp / "empty.log", 4, "is empty"),
        "binary": (tmp / "binary.log", 4, "no restic output found"),
        "huge-line": (tmp / "huge-line.log", 4, "no restic output found"),
        "cut": (tmp / "cut.log", 4, "ends before the backup run that starts at line 1"),
        "corrupt": (tmp / "corrupt.json", 4, "line 1: 'files_new' is not a non-negative integer"),
    }


@pytest.mark.parametrize(
    "case", ["missing", "directory", "empty", "binary", "huge-line", "cut", "corrupt"]
)
def test_bad_input_one_line_error_and_metrics_that_say_so(case: str, tmp_path: Path) -> None:
    log, exit_code, message = _bad_inputs(tmp_path)[case]
    prom = tmp_path / "out.prom"
    result = invoke(str(log), "-o", str(prom))
    assert result.exit_code == exit_code, result.output
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and message in errors[0], result.stderr
    text = prom.read_text()
    assert value(text, "restic_exporter_parse_success") == 0
    assert value(text, "restic_backup_success") == 0


def test_a_huge_line_inside_a_good_log_is_skipped_with_a_warning(tmp_path: Path) -> None:
    log = tmp_path / "backup.log"
    log.write_bytes(b"y" * (5 * 1024 * 1024) + b"\n" + GOOD_LOG.read_bytes())
    result = invoke(str(log), "-o", str(tmp_path / "out.prom"))
    assert result.exit_code == 0, result.output
    assert "skipped 1 line(s) longer than 1 MiB" in result.stderr
    assert value((tmp_path / "out.prom").read_text(), "restic_backup_success") == 1


def test_crlf_and_non_utf8_bytes_are_read(tmp_path: Path) -> None:
    log = tmp_path / "windows.log"
    first, rest = GOOD_LOG.read_bytes().replace(b"\n", b"\r\n").split(b"\r\n", 1)
    log.write_bytes(first + b"\r\nerror: open /srv/caf\xe9.txt: permission denied\r\n" + rest)
    result = invoke(str(log))
    assert result.exit_code == 0, result.output
    assert value(result.stdout, "restic_backup_errors") == 1
    assert value(result.stdout, "restic_backup_files", state="new") == 4838


def test_failure_keeps_the_last_success_and_drops_the_rest(tmp_path: Path) -> None:
    prom = tmp_path / "restic.prom"
    good = tmp_path / "good.log"
    good.write_bytes(GOOD_LOG.read_bytes())
    os.utime(good, (1700000000, 1700000000))
    assert invoke(str(good), "-o", str(prom), "-l", "job=a").exit_code == 0
    assert invoke(str(FAILED_LOG), "-o", str(prom), "-l", "job=a").exit_code == 0
    text = prom.read_text()
    assert value(text, "restic_backup_success", job="a") == 0
    assert value(text, "restic_backup_last_success_timestamp_seconds", job="a") == 1700000000
    assert value(text, "restic_backup_files", job="a", state="new") is None
    # and it survives a second failure and an unreadable log too
    assert invoke(str(FAILED_LOG), "-o", str(prom), "-l", "job=a").exit_code == 0
    assert invoke(str(tmp_path / "gone.log"), "-o", str(prom), "-l", "job=a").exit_code == 3
    text = prom.read_text()
    assert value(text, "restic_backup_last_success_timestamp_seconds", job="a") == 1700000000


def test_last_success_is_not_taken_from_another_jobs_labels(tmp_path: Path) -> None:
    prom = tmp_path / "restic.prom"
    assert invoke(str(GOOD_LOG), "-o", str(prom), "-l", "job=a").exit_code == 0
    assert invoke(str(FAILED_LOG), "-o", str(prom), "-l", "job=b").exit_code == 0
    text = prom.read_text()
    assert value(text, "restic_backup_last_success_timestamp_seconds", job="b") is None


def test_a_damaged_previous_file_is_replaced(tmp_path: Path) -> None:
    prom = tmp_path / "restic.prom"
    prom.write_bytes(b"\x00garbage{{{\n")
    result = invoke(str(FAILED_LOG), "-o", str(prom))
    assert result.exit_code == 0, result.output
    assert value(prom.read_text(), "restic_backup_success") == 0


@pytest.mark.parametrize("where", ["missing-directory", "target-is-directory"])
def test_unwritable_output_exits_5_and_leaves_the_old_file(where: str, tmp_path: Path) -> None:
    prom = tmp_path / "restic.prom"
    assert invoke(str(GOOD_LOG), "-o", str(prom)).exit_code == 0
    before = prom.read_bytes()
    target = tmp_path / "nope" / "x.prom" if where == "missing-directory" else tmp_path
    result = invoke(str(FAILED_LOG), "-o", str(target))
    assert result.exit_code == 5
    assert "the previous file is untouched" in result.stderr
    assert prom.read_bytes() == before
    # the metrics file, its writers' lock and the memory of the run it reports; no temp file
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".restic.prom.lock",
        ".restic.prom.runs.json",
        "restic.prom",
    ]


def test_summary_line_on_stderr_names_the_outcome(tmp_path: Path) -> None:
    result = invoke(str(FAILED_LOG), "-o", str(tmp_path / "r.prom"))
    assert "backup failed (wrong password or no key found)" in result.stderr
    quiet = invoke(str(FAILED_LOG), "-o", str(tmp_path / "r.prom"), "--quiet")
    assert quiet.stderr == ""


def test_output_not_ending_in_prom_is_warned_about(tmp_path: Path) -> None:
    result = invoke(str(GOOD_LOG), "-o", str(tmp_path / "metrics.txt"))
    assert result.exit_code == 0
    assert "textfile collector will skip it" in result.stderr


def test_version_and_help_document_the_exit_codes() -> None:
    runner = CliRunner()
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.stdout.startswith("restic-textfile-exporter ")
    helptext = runner.invoke(app, ["--help"])
    assert "5 metrics file not writable" in " ".join(helptext.stdout.split())


def _command(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed entry point's behaviour (main()), not CliRunner's."""
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_a_usage_error_is_one_line_that_says_where_help_is() -> None:
    result = _command("parse", "--label", "x", str(GOOD_LOG))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "restic-textfile-exporter: error: Invalid value for --label: 'x' is not NAME=VALUE "
        "(see restic-textfile-exporter parse --help)"
    ]


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_short_and_long_help(flag: str) -> None:
    result = _command("parse", flag)
    assert result.returncode == 0
    assert "Usage: restic-textfile-exporter parse [OPTIONS] [LOG]" in result.stdout
    assert "backup=home" in result.stdout and "job=home" not in result.stdout


def test_shell_completion_can_be_shown() -> None:
    result = _command("--show-completion", env={"SHELL": "/bin/bash"})
    assert result.returncode == 0 and "complete" in result.stdout


@pytest.mark.parametrize(
    ("invocation", "message"),
    [("", "needs $INVOCATION_ID"), ("not-an-id", "is not a systemd invocation id")],
)
def test_journal_says_whether_the_invocation_id_is_missing_or_wrong(
    invocation: str, message: str
) -> None:
    result = invoke("--journal", env={"INVOCATION_ID": invocation})
    assert result.exit_code == 2 and message in result.stderr


def test_a_partial_backup_is_called_partial_and_exit_codes_are_said_once(tmp_path: Path) -> None:
    partial = invoke(
        str(FIXTURES / "restic-0.14" / "backup4_warn.log"), "-o", str(tmp_path / "a.prom")
    )
    assert "backup partial (snapshot " in partial.stderr and "exit code 3)" in partial.stderr
    failed = invoke(str(GOOD_LOG), "-o", str(tmp_path / "b.prom"), "--exit-code", "127")
    assert "backup failed (restic exited with 127)" in failed.stderr
