"""Real restic runs against scratch repositories, their output captured as a log file would hold
it (stdout and stderr into one file, like ``restic backup >>log 2>&1``).

Each scenario's expected values follow from the files it backs up, chosen so that restic's
3-decimal sizes are exact: 7168 bytes is printed "7.000 KiB".
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class ResticLog:
    path: Path
    returncode: int


ResticLogs = dict[str, ResticLog]


class _Restic:
    def __init__(self, base: Path, repository: Path, user: int | None = None) -> None:
        self.base = base
        self.repository = repository
        self.user = user
        self.env = {
            **os.environ,
            "RESTIC_PASSWORD": PASSWORD,
            "RESTIC_REPOSITORY": str(repository),
            "RESTIC_CACHE_DIR": str(base / "cache"),
            "HOME": str(base),
        }
        self.env.pop("RESTIC_PROGRESS_FPS", None)

    def command(self, *args: str) -> list[str]:
        prefix: list[str] = []
        if self.user is not None:
            prefix = ["setpriv", f"--reuid={self.user}", f"--regid={self.user}", "--clear-groups"]
        return [*prefix, "restic", *args]

    def run(self, log: Path, *args: str, **env: str) -> ResticLog:
        with log.open("ab") as out:
            result = subprocess.run(
                self.command(*args),
                cwd=self.base,
                env={**self.env, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=120,
                check=False,
            )
        return ResticLog(log, result.returncode)

    def init(self) -> None:
        subprocess.run(
            self.command("init", "--quiet"),
            env=self.env,
            cwd=self.base,
            check=True,
            timeout=120,
            capture_output=True,
        )


def _write(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))


def make_restic_logs(base: Path) -> ResticLogs:
    logs: ResticLogs = {}
    restic = _Restic(base, base / "repo")
    restic.init()
    src = base / "src"
    _write(src / "a" / "1.bin", 1024)
    _write(src / "a" / "2.bin", 2048)
    _write(src / "b" / "3.bin", 4096)  # 3 files, 3 dirs, 7168 bytes
    logs["first"] = restic.run(base / "first.log", "backup", "src")

    with (src / "a" / "1.bin").open("ab") as grown:
        grown.write(os.urandom(1024))
    _write(src / "b" / "4.bin", 1024)  # 1 new, 1 changed, 2 unmodified; 9216 bytes
    logs["verbose"] = restic.run(base / "verbose.log", "backup", "-v", "src")

    _write(src / "a" / "5.bin", 512)  # 1 new, 0 changed, 4 unmodified; 9728 bytes
    logs["very_verbose"] = restic.run(base / "very_verbose.log", "backup", "-vv", "src")

    _write(src / "b" / "6.bin", 3072)  # 1 new, 0 changed, 5 unmodified; 12800 bytes
    logs["json"] = restic.run(base / "json.log", "backup", "--json", "src")
    logs["json_verbose"] = restic.run(base / "json_verbose.log", "backup", "--json", "-v", "src")
    logs["dry_run"] = restic.run(base / "dry_run.log", "backup", "--dry-run", "-v", "src")
    logs["quiet"] = restic.run(base / "quiet.log", "backup", "--quiet", "src")

    logs["wrong_password"] = restic.run(
        base / "wrong_password.log", "backup", "src", RESTIC_PASSWORD="wrong"
    )
    logs["missing_repository"] = restic.run(
        base / "missing_repository.log", "backup", "src", RESTIC_REPOSITORY=str(base / "nope")
    )

    # A later run appended to the log of a good one: the later, failed one is what counts.
    appended = base / "appended.log"
    restic.run(appended, "backup", "src")
    logs["appended_failure_last"] = restic.run(appended, "backup", "src", RESTIC_PASSWORD="wrong")

    _write(base / "big" / "big.bin", 24 * 1024 * 1024)
    logs["progress"] = restic.run(base / "progress.log", "backup", "big", RESTIC_PROGRESS_FPS="60")

    # A backup script's log: backup, forget --prune and check appended to one file.
    script = base / "script.log"
    _write(src / "c" / "7.bin", 2048)
    restic.run(script, "backup", "src")
    restic.run(script, "forget", "--keep-last", "3", "--prune")
    logs["script"] = restic.run(script, "check")
    logs["stats"] = restic.run(base / "stats.log", "stats")
    logs["stats_raw_json"] = restic.run(
        base / "stats_raw.json", "stats", "--json", "--mode", "raw-data"
    )
    logs["forget_json"] = restic.run(base / "forget.json", "forget", "--json", "--keep-last", "2")
    logs["prune"] = restic.run(base / "prune.log", "prune")
    logs["check_damaged"] = _damaged_check(restic, base / "check_damaged.log")

    logs["locked"] = _locked_backup(restic, base / "locked.log")
    logs["interrupted"] = _interrupted_backup(restic, base / "interrupted.log")
    logs["unreadable"] = _unreadable_backup(base / "unreadable.log")
    return logs


def _damaged_check(restic: _Restic, log: Path) -> ResticLog:
    """check on a copy of the repository with one pack file deleted: the largest, which holds
    file data only (losing a tree pack makes check retry for minutes before it gives up)."""
    damaged = restic.base / "repo-damaged"
    shutil.copytree(restic.repository, damaged)
    packs = [pack for pack in (damaged / "data").rglob("*") if pack.is_file()]
    max(packs, key=lambda pack: pack.stat().st_size).unlink()
    return restic.run(log, "check", RESTIC_REPOSITORY=str(damaged))


def _locked_backup(restic: _Restic, log: Path) -> ResticLog:
    """A backup while `restic check` holds the exclusive lock (slowed down so that it keeps it)."""
    holder = subprocess.Popen(
        restic.command("check", "--read-data", "--limit-download", "1"),
        env=restic.env,
        cwd=restic.base,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_lock(restic.repository)
        return restic.run(log, "backup", "src")
    finally:
        holder.kill()
        holder.wait(timeout=30)
        subprocess.run(
            restic.command("unlock", "--remove-all"),
            env=restic.env,
            check=True,
            capture_output=True,
            timeout=60,
        )


def _interrupted_backup(restic: _Restic, log: Path) -> ResticLog:
    """Ctrl-C (SIGINT) while restic reads a never-ending stdin."""
    with log.open("ab") as out:
        backup = subprocess.Popen(
            restic.command("backup", "--stdin", "--stdin-filename", "stream.bin"),
            env=restic.env,
            cwd=restic.base,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        assert backup.stdin is not None
        backup.stdin.write(os.urandom(64 * 1024))
        backup.stdin.flush()
        _wait_for_lock(restic.repository)
        time.sleep(0.5)
        backup.send_signal(signal.SIGINT)
        returncode = backup.wait(timeout=60)
        backup.stdin.close()
    return ResticLog(log, returncode)


def _unreadable_backup(log: Path) -> ResticLog:
    """Two items restic cannot open: run as `nobody` when we are root, who can read anything.

    `nobody` cannot enter pytest's private temporary directory, so this runs in a directory of
    its own and only the log is kept.
    """
    user = 65534 if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix="restic-unreadable-"))
    try:
        src = base / "src"
        _write(src / "ok.bin", 1024)
        _write(src / "secret.bin", 1024)
        _write(src / "locked" / "inside.bin", 1024)
        for path in (base, src, src / "locked"):
            path.chmod(0o755)
        for path in (src / "ok.bin", src / "locked" / "inside.bin"):
            path.chmod(0o644)
        if user is not None:
            os.chown(base, user, user)
        restic = _Restic(base, base / "repo", user=user)
        restic.init()
        (src / "secret.bin").chmod(0o000)
        (src / "locked").chmod(0o000)
        result = restic.run(base / "unreadable.log", "backup", "src")
        shutil.copyfile(result.path, log)
        return ResticLog(log, result.returncode)
    finally:
        (base / "src" / "locked").chmod(0o755)
        shutil.rmtree(base)


def _wait_for_lock(repository: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    locks = repository / "locks"
    while time.monotonic() < deadline:
        if locks.is_dir() and any(locks.iterdir()):
            return
        time.sleep(0.02)
    raise TimeoutError(f"restic created no lock in {locks} within {timeout} s")
