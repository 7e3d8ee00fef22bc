"""Real logs from every restic Debian ships: 0.11 (bullseye), 0.14 (bookworm, the system's),
0.18 (trixie) and 0.19 (sid).  ``.ci/fetch-restic`` puts the other three in the user's cache.

Each scenario is run as a log file would hold it (``restic ... >>LOG 2>&1``), and beside its log
keeps what restic itself says happened: its exit code, the snapshot it saved (``restic snapshots
--json``, whose summary carries exact counts from 0.17 on), check's ``num_errors``, stats'
``--json`` totals, the blobs ``restic list blobs`` counts.  For restic < 0.17, whose snapshots
carry no summary, the file counts come from what the scenario changed in the source tree.
Nothing expected comes from this project's parser.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

PASSWORD = "correct horse battery staple"
SERIES = ("0.11", "0.14", "0.18", "0.19")
NOBODY = 65534
CACHE = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "restic-textfile-exporter"
    / "restic"
)
_VERSION = re.compile(r"^restic (?P<version>\d+\.\d+\.\d+)")


# Every scenario, with the first version that can run it.
SCENARIOS: dict[str, tuple[int, int]] = {
    "default": (0, 0),
    "verbose": (0, 0),
    "very_verbose": (0, 0),
    "json": (0, 0),
    "json_verbose": (0, 0),
    "dry_run": (0, 12),
    "dry_run_verbose": (0, 12),
    "skip_unchanged": (0, 17),
    "skip_unchanged_json": (0, 17),
    "missing_source": (0, 0),
    "wrong_password": (0, 0),
    "missing_repository": (0, 0),
    "appended_failure_last": (0, 0),
    "appended_success_last": (0, 0),
    "progress": (0, 0),
    "locked": (0, 0),
    "locked_json": (0, 18),
    "interrupted": (0, 0),
    "interrupted_verbose": (0, 0),
    "unreadable": (0, 0),
    "unreadable_json": (0, 0),
    "forget_prune": (0, 0),
    "forget_prune_json": (0, 0),
    "prune": (0, 0),
    "check": (0, 0),
    "check_json": (0, 18),
    "check_damaged": (0, 0),
    "check_damaged_json": (0, 18),
    "stats": (0, 0),
    "stats_raw": (0, 0),
    "stats_raw_json": (0, 0),
    "script": (0, 0),
}


def scenarios(series: str) -> list[str]:
    """The scenarios a series runs."""
    major, minor = (int(part) for part in series.split("."))
    return [name for name, since in SCENARIOS.items() if (major, minor) >= since]


class ResticMissingError(Exception):
    """A restic series the matrix needs is not there."""


@dataclass(frozen=True)
class ResticBinary:
    series: str
    version: tuple[int, int, int]
    path: Path

    def at_least(self, major: int, minor: int, patch: int = 0) -> bool:
        return self.version >= (major, minor, patch)

    @property
    def name(self) -> str:
        return ".".join(map(str, self.version))


def _version_of(path: Path) -> tuple[int, int, int]:
    out = subprocess.run(
        [str(path), "version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    match = _VERSION.match(out)
    if match is None:
        raise ResticMissingError(f"{path} version printed {out!r}")
    major, minor, patch = (int(part) for part in match["version"].split("."))
    return major, minor, patch


def find_restic(series: str) -> ResticBinary:
    """The binary of a series: 0.14 is the system's restic, the others are in the cache."""
    candidates: list[Path] = []
    if series == "0.14":
        system = shutil.which("restic")
        if system is not None:
            candidates.append(Path(system))
        hint = "install restic (bookworm's 0.14): run .ci/run"
    else:
        candidates.extend(CACHE.glob(f"{series}.*/restic"))
        hint = f"run .ci/fetch-restic, which puts Debian's restic {series} in {CACHE}"
    found = [ResticBinary(series, _version_of(path), path) for path in candidates]
    found = [binary for binary in found if binary.name.startswith(f"{series}.")]
    if not found:
        present = sorted(path.parent.name for path in CACHE.glob("*/restic"))
        raise ResticMissingError(f"no restic {series} (cached: {present or 'none'}): {hint}")
    return max(found, key=lambda binary: binary.version)


# --- what restic itself says ----------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotSummary:
    """The summary restic 0.17+ stores in a snapshot (`restic snapshots --json`)."""

    files_new: int
    files_changed: int
    files_unmodified: int
    dirs_new: int
    dirs_changed: int
    dirs_unmodified: int
    data_blobs: int
    tree_blobs: int
    data_added: int
    data_added_packed: int
    total_files_processed: int
    total_bytes_processed: int


@dataclass(frozen=True)
class StatsTotals:
    """`restic stats --json` for one mode."""

    mode: str
    total_size: int
    total_file_count: int | None
    total_blob_count: int | None
    snapshots_count: int | None


@dataclass(frozen=True)
class FileCounts:
    """new, changed, unmodified files: what the scenario did to the source tree."""

    new: int
    changed: int
    unmodified: int
    processed_bytes: int


@dataclass(frozen=True)
class RealRun:
    """One scenario's log and what restic says about it.  The log's last command is `command`."""

    name: str
    command: str
    log: Path
    returncode: int
    wall_seconds: float
    dry_run: bool = False
    snapshot_saved: bool | None = None
    summary: SnapshotSummary | None = None
    files: FileCounts | None = None
    unreadable_items: int | None = None
    kept_snapshots: int | None = None
    removed_snapshots: int | None = None
    remaining_blobs: int | None = None
    check_errors: int | None = None
    stats: StatsTotals | None = None
    earlier: tuple[RealRun, ...] = ()


@dataclass
class VersionLogs:
    restic: ResticBinary
    runs: dict[str, RealRun] = field(default_factory=dict)


# --- running restic -------------------------------------------------------------------------------


class _Restic:
    def __init__(
        self, binary: ResticBinary, base: Path, repository: Path, user: int | None = None
    ) -> None:
        self.binary = binary
        self.base = base
        self.repository = repository
        self.user = user
        self.env = {
            **os.environ,
            "RESTIC_PASSWORD": PASSWORD,
            "RESTIC_REPOSITORY": str(repository),
            "RESTIC_CACHE_DIR": str(base / "cache"),
            "HOME": str(base),
            "TMPDIR": str(base),
        }
        self.env.pop("RESTIC_PROGRESS_FPS", None)
        self.env.pop("RESTIC_PASSWORD_FILE", None)

    def command(self, *args: str) -> list[str]:
        prefix: list[str] = []
        if self.user is not None:
            prefix = ["setpriv", f"--reuid={self.user}", f"--regid={self.user}", "--clear-groups"]
        return [*prefix, str(self.binary.path), *args]

    def run(self, log: Path, *args: str, **env: str) -> tuple[int, float]:
        started = time.monotonic()
        with log.open("ab") as out:
            result = subprocess.run(
                self.command(*args),
                cwd=self.base,
                env={**self.env, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=180,
                check=False,
            )
        return result.returncode, time.monotonic() - started

    def output(self, *args: str, **env: str) -> str:
        return subprocess.run(
            self.command(*args),
            cwd=self.base,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            check=True,
            timeout=180,
        ).stdout

    def init(self) -> None:
        self.output("init")

    def snapshot_ids(self) -> set[str]:
        """The snapshots in the repository, as restic wrote them: one file each, named by its ID
        (read from the directory, as opening the repository costs restic half a second)."""
        snapshots = self.repository / "snapshots"
        return {path.name for path in snapshots.iterdir()} if snapshots.is_dir() else set()

    def summary(self, snapshot_id: str) -> SnapshotSummary | None:
        """The summary restic 0.17+ stores in a snapshot."""
        if not self.binary.at_least(0, 17):
            return None
        (snapshot,) = json.loads(self.output("--no-lock", "snapshots", "--json", snapshot_id))
        return _summary(snapshot)

    def blob_count(self) -> int:
        return len(self.output("--no-lock", "list", "blobs").splitlines())

    def stats(self, mode: str) -> StatsTotals:
        data = json.loads(self.output("--no-lock", "stats", "--json", "--mode", mode))
        return StatsTotals(
            mode,
            data["total_size"],
            data.get("total_file_count"),
            data.get("total_blob_count"),
            data.get("snapshots_count"),
        )


def _summary(snapshot: dict[str, Any]) -> SnapshotSummary | None:
    data = snapshot.get("summary")
    if data is None:
        return None
    return SnapshotSummary(
        **{name: data.get(name, 0) for name in SnapshotSummary.__dataclass_fields__}
    )


def _write(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))


class _SourceTree:
    """The files under `src` and their state at the last snapshot of it, to count what changed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.saved: dict[str, tuple[int, int]] = {}

    def _now(self) -> dict[str, tuple[int, int]]:
        return {
            str(path.relative_to(self.root)): (path.stat().st_size, path.stat().st_mtime_ns)
            for path in self.root.rglob("*")
            if path.is_file()
        }

    def counts(self) -> FileCounts:
        now = self._now()
        new = sum(1 for name in now if name not in self.saved)
        changed = sum(1 for name, state in now.items() if self.saved.get(name, state) != state)
        return FileCounts(new, changed, len(now) - new - changed, sum(s for s, _ in now.values()))

    def mark_saved(self) -> None:
        self.saved = self._now()


class _Scenarios:
    def __init__(self, binary: ResticBinary, base: Path) -> None:
        self.binary = binary
        self.base = base
        self.restic = _Restic(binary, base, base / "repo")
        self.src = _SourceTree(base / "src")
        self.logs = VersionLogs(binary)

    def add(self, run: RealRun) -> RealRun:
        self.logs.runs[run.name] = run
        return run

    def backup(
        self,
        name: str,
        *args: str,
        log: Path | None = None,
        restic: _Restic | None = None,
        tracked: bool = True,
        earlier: tuple[RealRun, ...] = (),
        **env: str,
    ) -> RealRun:
        """A backup, and what restic's snapshot list says it saved."""
        restic = restic or self.restic
        log = log or self.base / f"{name}.log"
        before = restic.snapshot_ids()
        counts = self.src.counts() if tracked else None
        returncode, seconds = restic.run(log, "backup", *args, **env)
        new = sorted(restic.snapshot_ids() - before)
        assert len(new) <= 1, f"{name}: restic saved {len(new)} snapshots"
        if new and tracked:
            self.src.mark_saved()
        return self.add(
            RealRun(
                name,
                "backup",
                log,
                returncode,
                seconds,
                dry_run="--dry-run" in args,
                snapshot_saved=bool(new),
                summary=restic.summary(new[0]) if new else None,
                files=counts if returncode == 0 else None,
                earlier=earlier,
            )
        )

    def command(self, name: str, command: str, *args: str, **env: str) -> RealRun:
        log = self.base / f"{name}.log"
        returncode, seconds = self.restic.run(log, command, *args, **env)
        return self.add(RealRun(name, command, log, returncode, seconds))

    def make(self) -> VersionLogs:
        restic, base, src = self.restic, self.base, self.base / "src"
        restic.init()
        background = ThreadPoolExecutor(max_workers=2, thread_name_prefix="restic-interrupt")
        interrupted: list[Future[RealRun]] = [
            background.submit(self.interrupted, "interrupted", ()),
            background.submit(self.interrupted, "interrupted_verbose", ("-v",)),
        ]
        try:
            self.main_sequence(restic, base, src)
        finally:
            background.shutdown(wait=True)
        for future in interrupted:
            self.add(future.result())
        return self.logs

    def main_sequence(self, restic: _Restic, base: Path, src: Path) -> None:
        v = self.binary
        _write(src / "a" / "1.bin", 1024)
        _write(src / "a" / "2.bin", 2048)
        _write(src / "b" / "3.bin", 4096)
        self.backup("default", "src")

        with (src / "a" / "1.bin").open("ab") as grown:
            grown.write(os.urandom(1024))
        _write(src / "b" / "4.bin", 1024)
        self.backup("verbose", "-v", "src")
        _write(src / "a" / "5.bin", 512)
        self.backup("very_verbose", "-vv", "src")
        _write(src / "b" / "6.bin", 3072)
        self.backup("json", "--json", "src")
        _write(src / "c" / "7.bin", 700)
        self.backup("json_verbose", "--json", "-v", "src")
        if v.at_least(0, 12):
            _write(src / "c" / "8.bin", 800)
            self.backup("dry_run", "--dry-run", "src")
            self.backup("dry_run_verbose", "--dry-run", "-v", "src")
        if v.at_least(0, 17):
            self.skip_if_unchanged()

        self.backup("missing_source", "src", "absent")
        self.backup("wrong_password", "src", RESTIC_PASSWORD="wrong")
        self.backup("missing_repository", "src", RESTIC_REPOSITORY=str(base / "absent-repo"))

        appended = base / "appended_failure_last.log"
        first = self.backup("appended_ok", "src", log=appended)
        self.backup(
            "appended_failure_last", "src", log=appended, earlier=(first,), RESTIC_PASSWORD="wrong"
        )
        appended = base / "appended_success_last.log"
        first = self.backup("appended_failed", "src", log=appended, RESTIC_PASSWORD="wrong")
        _write(src / "c" / "9.bin", 900)
        self.backup("appended_success_last", "src", log=appended, earlier=(first,))
        for name in ("appended_ok", "appended_failed"):
            del self.logs.runs[name]

        _write(base / "big" / "big.bin", 24 * 1024 * 1024)
        self.backup("progress", "big", tracked=False, RESTIC_PROGRESS_FPS="60")

        self.locked()
        self.forget_and_prune()
        self.checks()
        self.stats()
        self.script(src)

    def skip_if_unchanged(self) -> None:
        """--skip-if-unchanged right after a backup of the same tree.  restic compares the whole
        tree, the parent directories of `src` included, so a change to one of them (another test
        creating a file in /tmp) makes it save a snapshot after all: then it is tried again."""
        for name, args in (("skip_unchanged", ()), ("skip_unchanged_json", ("--json",))):
            for attempt in range(3):
                self.backup("settle", "src", log=self.base / "settle.log")
                (self.base / f"{name}.log").unlink(missing_ok=True)
                run = self.backup(name, "--skip-if-unchanged", *args, "src")
                if not run.snapshot_saved:
                    break
                assert attempt < 2, f"restic {self.binary.name} never skipped: {run.log}"
            del self.logs.runs["settle"]

    def locked(self) -> None:
        """Backups while `restic check` holds the exclusive lock (slowed down to keep it)."""
        holder = subprocess.Popen(
            self.restic.command("check", "--read-data", "--limit-download", "1"),
            env=self.restic.env,
            cwd=self.base,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for(lambda: _has_lock(self.restic.repository), "a lock", 60)
            self.backup("locked", "src", tracked=False)
            if self.binary.at_least(0, 18):
                self.backup("locked_json", "--json", "src", tracked=False)
        finally:
            holder.kill()
            holder.wait(timeout=30)
            self.restic.output("unlock", "--remove-all")

    def forget_and_prune(self) -> None:
        for name, args in (
            ("forget_prune", ("--keep-last", "4", "--prune")),
            ("forget_prune_json", ("--keep-last", "3", "--prune", "--json")),
        ):
            before = len(self.restic.snapshot_ids())
            run = self.command(name, "forget", *args)
            after = len(self.restic.snapshot_ids())
            self.add(_replace(run, kept_snapshots=after, removed_snapshots=before - after))
        self.restic.run(self.base / "forget.log", "forget", "--keep-last", "1")
        run = self.command("prune", "prune")
        self.add(_replace(run, remaining_blobs=self.restic.blob_count()))

    def checks(self) -> None:
        json_check = self.binary.at_least(0, 18)
        self.command("check", "check")
        if json_check:
            self.check_json("check_json", self.restic)
        damaged = self.base / "repo-damaged"
        shutil.copytree(self.restic.repository, damaged)
        packs = [pack for pack in (damaged / "data").rglob("*") if pack.is_file()]
        # the largest pack holds file data only: losing a tree pack makes check retry for minutes
        max(packs, key=lambda pack: pack.stat().st_size).unlink()
        broken = _Restic(self.binary, self.base, damaged)
        errors = self.check_json("check_damaged_json", broken).check_errors if json_check else None
        returncode, seconds = broken.run(self.base / "check_damaged.log", "check")
        self.add(
            RealRun(
                "check_damaged",
                "check",
                self.base / "check_damaged.log",
                returncode,
                seconds,
                check_errors=errors,
            )
        )

    def check_json(self, name: str, restic: _Restic) -> RealRun:
        log = self.base / f"{name}.log"
        returncode, seconds = restic.run(log, "check", "--json")
        summaries = [
            json.loads(line)
            for line in log.read_text().splitlines()
            if line.startswith('{"message_type":"summary"')
        ]
        assert len(summaries) == 1, f"check --json printed {len(summaries)} summaries: {log}"
        return self.add(
            RealRun(
                name, "check", log, returncode, seconds, check_errors=summaries[0]["num_errors"]
            )
        )

    def stats(self) -> None:
        totals: dict[str, StatsTotals] = {}
        for name, args, mode in (
            ("stats", (), "restore-size"),
            ("stats_raw", ("--mode", "raw-data"), "raw-data"),
            ("stats_raw_json", ("--mode", "raw-data", "--json"), "raw-data"),
        ):
            run = self.command(name, "stats", *args)
            if mode not in totals:
                totals[mode] = self.restic.stats(mode)
            self.add(_replace(run, stats=totals[mode]))

    def script(self, src: Path) -> None:
        """A backup script: backup; forget --prune; check, appended to one log."""
        log = self.base / "script.log"
        _write(src / "d" / "10.bin", 1000)
        backup = self.backup("script_backup", "src", log=log, tracked=False)
        before = len(self.restic.snapshot_ids())
        returncode, seconds = self.restic.run(log, "forget", "--keep-last", "1", "--prune")
        after = len(self.restic.snapshot_ids())
        forget = RealRun(
            "script_forget",
            "forget",
            log,
            returncode,
            seconds,
            kept_snapshots=after,
            removed_snapshots=before - after,
        )
        returncode, seconds = self.restic.run(log, "check")
        del self.logs.runs["script_backup"]
        self.add(RealRun("script", "check", log, returncode, seconds, earlier=(backup, forget)))

    def interrupted(self, name: str, args: tuple[str, ...]) -> RealRun:
        """Ctrl-C (SIGINT) while restic reads a stdin that never ends.  With -v, status lines are
        on (RESTIC_PROGRESS_FPS): 0.18 and 0.19 go on printing them after the signal."""
        base = self.base / name
        base.mkdir()
        restic = _Restic(self.binary, base, base / "repo")
        restic.init()
        log = base / f"{name}.log"
        env = {**restic.env, "RESTIC_PROGRESS_FPS": "10"} if args else restic.env
        started = time.monotonic()
        with log.open("ab") as out:
            backup = subprocess.Popen(
                restic.command("backup", *args, "--stdin", "--stdin-filename", "stream.bin"),
                env=env,
                cwd=base,
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            assert backup.stdin is not None
            try:
                backup.stdin.write(os.urandom(64 * 1024))
                backup.stdin.flush()
                _wait_for(lambda: _has_lock(restic.repository), "a lock", 60)
                if args:
                    # after the scan, so that its line cannot land on either side of the signal
                    _wait_for(lambda: b"scan finished" in log.read_bytes(), "the scan's end", 60)
                backup.send_signal(signal.SIGINT)

                def signal_seen() -> bool:
                    text = log.read_bytes()
                    after = text.partition(b"signal interrupt received")[2]
                    status_after = not args or not self.binary.at_least(0, 12) or b"\n[" in after
                    return backup.poll() is not None or bool(after and status_after)

                _wait_for(signal_seen, "restic to print its signal line", 30)
            finally:
                backup.stdin.close()  # the end of the stream: restic now stops reading
                returncode = backup.wait(timeout=60)
        shutil.copyfile(log, self.base / f"{name}.log")
        return RealRun(
            name,
            "backup",
            self.base / f"{name}.log",
            returncode,
            time.monotonic() - started,
            snapshot_saved=bool(restic.snapshot_ids()),
        )


def _replace(run: RealRun, **changes: Any) -> RealRun:
    return replace(run, **changes)


def unreadable_backups(binary: ResticBinary, logs: Path) -> list[RealRun]:
    """An unreadable file and an unreadable directory, as `nobody` when we are root (root reads
    everything).  `nobody` can enter neither pytest's temporary directory nor root's cache, so
    this runs in a directory of its own with a copy of the binary; only the logs are kept."""
    user = NOBODY if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix=f"restic-{binary.name}-unreadable-"))
    runs: list[RealRun] = []
    try:
        shutil.copy2(binary.path, base / "restic")
        own = ResticBinary(binary.series, binary.version, base / "restic")
        src = base / "src"
        _write(src / "ok.bin", 1024)
        _write(src / "secret.bin", 1024)
        _write(src / "locked" / "inside.bin", 1024)
        for path in (base, src, src / "locked", base / "restic"):
            path.chmod(0o755)
        for path in (src / "ok.bin", src / "locked" / "inside.bin"):
            path.chmod(0o644)
        if user is not None:
            os.chown(base, user, user)
        restic = _Restic(own, base, base / "repo", user=user)
        restic.init()
        (src / "secret.bin").chmod(0o000)
        (src / "locked").chmod(0o000)
        for name, args in (("unreadable", ()), ("unreadable_json", ("--json",))):
            log = base / f"{name}.log"
            before = restic.snapshot_ids()
            returncode, seconds = restic.run(log, "backup", *args, "src")
            saved = sorted(restic.snapshot_ids() - before)
            kept = logs / log.name
            shutil.copyfile(log, kept)
            runs.append(
                RealRun(
                    name,
                    "backup",
                    kept,
                    returncode,
                    seconds,
                    snapshot_saved=bool(saved),
                    summary=restic.summary(saved[0]) if saved else None,
                    unreadable_items=2,
                )
            )
        return runs
    finally:
        (base / "src" / "locked").chmod(0o755)
        shutil.rmtree(base)


def make_version_logs(binary: ResticBinary, base: Path) -> VersionLogs:
    logs = _Scenarios(binary, base).make()
    for run in unreadable_backups(binary, base):
        logs.runs[run.name] = run
    assert sorted(logs.runs) == sorted(scenarios(binary.series)), "SCENARIOS is out of date"
    return logs


def make_all_version_logs(
    base: Path, series: tuple[str, ...] = SERIES
) -> dict[str, VersionLogs | ResticMissingError]:
    """Every series' logs, made concurrently (most of the time restic waits on the disk or on a
    lock).  A missing binary is yielded as its error, for that series' tests to fail with."""
    binaries: dict[str, ResticBinary | ResticMissingError] = {}
    for name in series:
        try:
            binaries[name] = find_restic(name)
        except ResticMissingError as missing:
            binaries[name] = missing
    with ThreadPoolExecutor(max_workers=len(series), thread_name_prefix="restic") as pool:
        futures: dict[str, Future[VersionLogs]] = {}
        for name, binary in binaries.items():
            if isinstance(binary, ResticBinary):
                directory = base / f"restic-{binary.name}"
                directory.mkdir()
                futures[name] = pool.submit(make_version_logs, binary, directory)
        return {
            name: binary if isinstance(binary, ResticMissingError) else futures[name].result()
            for name, binary in binaries.items()
        }


def _has_lock(repository: Path) -> bool:
    locks = repository / "locks"
    return locks.is_dir() and any(locks.iterdir())


def _wait_for(condition: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout} s")
        time.sleep(0.02)
