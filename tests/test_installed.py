"""The installed command as a user (or systemd) runs it: a real process, real exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import FIXTURES

BIN = Path(sys.executable).parent
GOOD_LOG = FIXTURES / "restic-0.14" / "backup1.log"


def run(*command: str | Path, user: int | None = None) -> subprocess.CompletedProcess[str]:
    prefix: list[str | Path] = []
    if user is not None:
        prefix = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
    return subprocess.run(
        [*prefix, *command], capture_output=True, text=True, timeout=60, check=False
    )


def test_installed_command_writes_the_file(tmp_path: Path) -> None:
    prom = tmp_path / "restic.prom"
    result = run(BIN / "restic-textfile-exporter", "parse", GOOD_LOG, "-o", prom, "-l", "job=x")
    assert result.returncode == 0, result.stderr
    assert 'restic_backup_success{job="x"} 1.0' in prom.read_text()
    assert "backup succeeded, snapshot 31986dfd" in result.stderr


def test_python_dash_m_works_too() -> None:
    result = run(sys.executable, "-m", "exporter", "parse", GOOD_LOG)
    assert result.returncode == 0, result.stderr
    assert "restic_backup_files" in result.stdout


def test_permission_denied_is_one_line_and_exit_3(tmp_path: Path) -> None:
    log = tmp_path / "secret.log"
    log.write_bytes(GOOD_LOG.read_bytes())
    log.chmod(0o600)
    # root reads anything: then read it as nobody, who cannot enter pytest's directory either.
    user = 65534 if os.geteuid() == 0 else None
    if user is None:
        log.chmod(0o000)
    result = run(BIN / "restic-textfile-exporter", "parse", log, user=user)
    assert result.returncode == 3, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"restic-textfile-exporter: error: cannot read log {log}: permission denied"
    ]
    assert "restic_exporter_parse_success 0.0" in result.stdout


def test_usage_error_exit_2_without_traceback() -> None:
    result = run(BIN / "restic-textfile-exporter", "parse", GOOD_LOG, "--label", "oops")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "is not NAME=VALUE" in result.stderr


def test_importing_the_cli_builds_no_watchdog_and_no_pint_registry() -> None:
    probe = (
        "import sys, exporter.cli, parsers.units as units;"
        "print('watchdog' in sys.modules, 'pint' in sys.modules,"
        " units._registry.cache_info().currsize)"
    )
    result = run(sys.executable, "-c", probe)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "0"]
