"""The units we ship: `systemd-analyze verify` accepts them and `systemd-analyze security
--offline=yes` rates every service 2.0 or lower ("OK"); the drop-in's hook works as systemd
would run it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, require_program
from helpers import value

SYSTEMD = Path(__file__).parent.parent / "systemd"
SERVICES = ["restic-backup.service", "restic-textfile-exporter.service"]
BIN = Path(sys.executable).parent / "restic-textfile-exporter"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file system root holding systemd's own units and ours.  The programs our units start
    are empty placeholders here: verify only checks that they exist and are executable."""
    root = tmp_path_factory.mktemp("root")
    shutil.copytree("/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    units = root / "etc/systemd/system"
    (units / "restic-backup.service.d").mkdir(parents=True)
    for name in [*SERVICES, "restic-backup.timer"]:
        shutil.copy(SYSTEMD / name, units / name)
    shutil.copy(SYSTEMD / "restic-textfile-exporter.conf", units / "restic-backup.service.d")
    for program in ("usr/bin/restic-textfile-exporter", "usr/bin/restic", "bin/kill"):
        (root / program).parent.mkdir(parents=True, exist_ok=True)
        (root / program).write_text("#!/bin/sh\n")
        (root / program).chmod(0o755)
    return root


def test_units_verify(root: Path) -> None:
    units = [f"/etc/systemd/system/{name}" for name in [*SERVICES, "restic-backup.timer"]]
    result = subprocess.run(
        [require_program("systemd-analyze"), "verify", f"--root={root}", *units],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0 and not result.stdout and not result.stderr, result.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_services_are_hardened_to_2_or_lower(root: Path, service: str) -> None:
    analyze = [require_program("systemd-analyze"), "security", "--offline=yes", f"--root={root}"]
    result = subprocess.run(
        [*analyze, "--threshold=20", service],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    overall = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 0, overall
    exposure = float(overall.split("exposure level for")[1].split(":")[1].split()[0])
    assert exposure <= 2.0


def test_the_drop_in_uses_exec_stop_post_and_the_journal() -> None:
    drop_in = (SYSTEMD / "restic-textfile-exporter.conf").read_text()
    hook = next(line for line in drop_in.splitlines() if line.startswith("ExecStopPost="))
    assert hook.startswith("ExecStopPost=-/usr/bin/restic-textfile-exporter parse --journal")
    assert "ExecStartPost=" not in [line.split("=")[0] + "=" for line in drop_in.splitlines()]


JOURNAL_START = 1_700_000_000
"""When the stand-in journal says the first line was received; each next line a second later."""


def _fake_journalctl(tmp_path: Path, invocation: str, log: Path, fail: bool = False) -> Path:
    """journalctl stands in for the journal: no journald runs here (a mock, for that reason
    only).  It answers --sync, and prints `log` for exactly this invocation's match, one JSON
    entry per line as ``journalctl --output=json --output-fields=MESSAGE`` does: MESSAGE, and
    __REALTIME_TIMESTAMP in microseconds."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    entries = tmp_path / "journal.json"
    with entries.open("w") as out:
        for number, line in enumerate(log.read_text().splitlines() if log.exists() else []):
            moment = (JOURNAL_START + number) * 1_000_000
            out.write(json.dumps({"__REALTIME_TIMESTAMP": str(moment), "MESSAGE": line}) + "\n")
    script = bin_dir / "journalctl"
    script.write_text(
        "#!/bin/sh\n"
        '[ "$1" = "--sync" ] && exit 0\n'
        + ('echo "No journal files were found." >&2; exit 1\n' if fail else "")
        + f'[ "$4" = "_SYSTEMD_INVOCATION_ID={invocation}" ] || exit 2\n'
        + '[ "$2 $3" = "--output=json --output-fields=MESSAGE" ] || exit 2\n'
        + f'cat "{entries}"\n'
    )
    script.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize(
    ("log", "exit_status", "success", "exit_code"),
    [("backup1.log", "0", 1, 0), ("fatal_pw.log", "1", 0, 1), ("backup4_warn.log", "3", 0, 3)],
)
def test_the_hook_reads_its_invocation_from_the_journal(
    tmp_path: Path, log: str, exit_status: str, success: int, exit_code: int
) -> None:
    invocation = "0123456789abcdef0123456789abcdef"
    bin_dir = _fake_journalctl(tmp_path, invocation, FIXTURES / "restic-0.14" / log)
    prom = tmp_path / "restic-backup.prom"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "INVOCATION_ID": invocation,
        "SERVICE_RESULT": "success" if exit_status == "0" else "exit-code",
        "EXIT_CODE": "exited",
        "EXIT_STATUS": exit_status,
    }
    result = subprocess.run(
        [BIN, "parse", "--journal", "-o", prom, "-l", "backup=system"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    text = prom.read_text()
    assert value(text, "restic_backup_success", backup="system") == success
    assert value(text, "restic_backup_exit_code", backup="system") == exit_code
    # The run ended when journald received its last line (not when the hook ran).
    lines = (FIXTURES / "restic-0.14" / log).read_text().splitlines()
    last = max(n for n, line in enumerate(lines) if line.strip() and "snapshot" not in line)
    ended = value(text, "restic_backup_last_run_timestamp_seconds", backup="system")
    assert ended is not None and JOURNAL_START <= ended <= JOURNAL_START + len(lines)
    assert ended >= JOURNAL_START + last - 1


def test_partial_ok_counts_exit_3_as_success(tmp_path: Path) -> None:
    prom = tmp_path / "restic.prom"
    log = FIXTURES / "restic-0.14" / "backup4_warn.log"
    result = subprocess.run(
        [BIN, "parse", log, "-o", prom, "--partial-ok", "--exit-code", "3"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert value(prom.read_text(), "restic_backup_success") == 1
    assert value(prom.read_text(), "restic_backup_errors") == 2


def test_journal_problems_are_one_line_and_exit_3(tmp_path: Path) -> None:
    invocation = "0123456789abcdef0123456789abcdef"
    bin_dir = _fake_journalctl(tmp_path, invocation, tmp_path / "none", fail=True)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "INVOCATION_ID": invocation}
    result = subprocess.run(
        [BIN, "parse", "--journal", "-o", tmp_path / "x.prom"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 3
    assert result.stderr.strip().splitlines() == [
        "restic-textfile-exporter: error: journalctl failed: No journal files were found."
    ]
    without = subprocess.run(
        [BIN, "parse", "--journal"],
        env={**env, "INVOCATION_ID": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert without.returncode == 2 and "INVOCATION_ID" in without.stderr
