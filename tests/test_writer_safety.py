"""The .prom writer where outputs are shared: writers of one output take turns, a writer killed at
any step leaves the old file or the new one and nothing that lasts, and another user of a shared
(1777) directory can neither redirect a root writer nor forge what is carried forward."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

import pytest
from concurrent_writer import metrics

from exporter import textfile
from exporter.paths import UnsafePath, open_directory
from exporter.previous import read_previous
from exporter.textfile import OutputBusy, output_lock, write_textfile

HOME = {"backup": "home"}
TESTS = Path(__file__).parent
NOBODY = 65534


def _leftovers(directory: Path, output: str = "out.prom") -> list[str]:
    """What is in `directory` besides the output and its lock file."""
    return sorted(p.name for p in directory.iterdir() if p.name not in (output, f".{output}.lock"))


# --- writers take turns -----------------------------------------------------------------------


def test_concurrent_writers_never_take_the_last_success_back(tmp_path: Path) -> None:
    """8 processes x 40 rounds on one output: every round reads exactly what the round before it
    wrote (no lost update), the carried last success never goes back, and a reader watching the
    file throughout only ever sees a complete file."""
    output, journal = tmp_path / "out.prom", tmp_path / "journal.txt"
    writers, rounds = 8, 40
    seen: list[bytes] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            with contextlib.suppress(FileNotFoundError):
                seen.append(output.read_bytes())

    reader = threading.Thread(target=watch)
    reader.start()
    try:
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    TESTS / "concurrent_writer.py",
                    output,
                    journal,
                    str(rounds),
                    str(n),
                ],
                env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])},
            )
            for n in range(writers)
        ]
        for process in processes:
            assert process.wait(timeout=120) == 0
    finally:
        stop.set()
        reader.join()
    entries = [line.split() for line in journal.read_text().splitlines()]
    assert len(entries) == writers * rounds
    assert len({pid for pid, _, _ in entries}) == writers
    written_before = 0.0
    for _, read, written in entries:
        assert float(read) == written_before  # the lock was held from the read to the rename
        assert float(written) >= float(read)
        written_before = float(written)
    # Every version a reader saw was complete: one of the versions that were written.
    assert seen
    versions = {metrics(float(written)) for _, _, written in entries}
    assert {data for data in seen if data} <= versions
    assert _leftovers(tmp_path) == ["journal.txt"]


def test_the_lock_is_exclusive_and_bounded(tmp_path: Path) -> None:
    output = tmp_path / "out.prom"
    with output_lock(output):
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from pathlib import Path; from exporter.textfile import output_lock\n"
                "with output_lock(Path(sys.argv[1]), timeout_seconds=0.2): pass",
                output,
            ],
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(TESTS.parent)},
        )
        _, stderr = holder.communicate(timeout=60)
    assert holder.returncode == 1
    assert b"OutputBusy" in stderr and b"another writer has held" in stderr
    with output_lock(output, timeout_seconds=0.2):  # free again once the holder let go
        pass


def test_the_lock_is_reentrant_in_one_thread_and_exclusive_between_threads(
    tmp_path: Path,
) -> None:
    output = tmp_path / "out.prom"
    failures: list[BaseException] = []

    def other_thread() -> None:
        try:
            with output_lock(output, timeout_seconds=0.1):
                pass
        except OutputBusy as error:
            failures.append(error)

    with output_lock(output), output_lock(output):
        write_textfile(output, metrics(1.0))
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    assert len(failures) == 1


def test_a_killed_holder_releases_the_lock(tmp_path: Path) -> None:
    output = tmp_path / "out.prom"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom pathlib import Path\n"
            "from exporter.textfile import output_lock\n"
            "with output_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(600)",
            output,
        ],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(TESTS.parent)},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        with pytest.raises(OutputBusy), output_lock(output, timeout_seconds=0.1):
            pass
    finally:
        holder.kill()
        holder.wait(timeout=30)
    with output_lock(output, timeout_seconds=5):
        pass


# --- a kill at any step -----------------------------------------------------------------------


_WRITER_MODULES = ("exporter/textfile.py", "exporter/previous.py", "exporter/paths.py")


def _publish(output: Path, value: float) -> None:
    """The pipeline's file edge: lock, read what is carried, replace the file."""
    with output_lock(output):
        read_previous(output, time.time())
        write_textfile(output, metrics(value))


def _run_killed_at(step: int, output: Path, value: float, report: int | None = None) -> int:
    """Fork a child that publishes `value` and SIGKILLs itself at the `step`-th point: just
    before or just after each call into C (every os.* call, flock, write, rename, fsync...) made
    by the writer's own modules.  Returns the child's wait status; a child that was not killed
    writes the number of points it passed to the descriptor `report`."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        # Every child takes the same steps: it does not trust what its parent found clean.
        textfile._found_clean.clear()
        events = 0

        def profile(frame: FrameType, event: str, arg: object) -> None:
            nonlocal events
            if event in ("c_call", "c_return") and frame.f_code.co_filename.endswith(
                _WRITER_MODULES
            ):
                events += 1
                if events == step:
                    os.kill(os.getpid(), signal.SIGKILL)

        sys.setprofile(profile)
        try:
            _publish(output, value)
        finally:
            sys.setprofile(None)
        if report is not None:
            os.write(report, str(events).encode())
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    return status


def _count_steps(output: Path) -> int:
    read_end, write_end = os.pipe()
    try:
        assert _run_killed_at(0, output, 1.0, report=write_end) == 0
        return int(os.read(read_end, 100))
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_writer_killed_at_any_step_leaves_the_old_file_or_the_new_and_nothing_lasts(
    tmp_path: Path,
) -> None:
    output = tmp_path / "out.prom"
    write_textfile(output, metrics(1.0))
    steps = _count_steps(output)
    assert steps > 50  # lock, read, create, flock, chmod, write, fsync, rename, fsync...
    outcomes = {"old": 0, "new": 0}
    temp_files_left = 0
    generation = 1.0
    for step in range(1, steps + 1):
        old = output.read_bytes()
        status = _run_killed_at(step, output, generation + 1)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, step
        now = output.read_bytes()
        assert now in (old, metrics(generation + 1)), f"killed at step {step}: a third version"
        if now == old:
            outcomes["old"] += 1
        else:
            outcomes["new"] += 1
            generation += 1
        temp_files_left += len(_leftovers(tmp_path))
        # The next publication cleans up whatever the killed one left.
        generation += 1
        _publish(output, generation)
        assert _leftovers(tmp_path) == [], f"killed at step {step}"
    assert outcomes["old"] and outcomes["new"] and temp_files_left, (outcomes, temp_files_left)
    print(f"{steps} kill points: {outcomes}, {temp_files_left} temp files left and cleaned up")


def test_a_temp_file_whose_writer_is_alive_is_not_removed(tmp_path: Path) -> None:
    """Without the output lock a live writer's temp file (flock-ed) stays; with it, it stays too
    as long as its writer holds it."""
    output = tmp_path / "out.prom"
    temp = tmp_path / ".out.prom.0123456789abcdef.tmp"
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        with output_lock(output):
            write_textfile(output, metrics(1.0))
        assert temp.exists()
    finally:
        os.close(descriptor)
    old = time.time() - 3600
    os.utime(temp, (old, old))
    assert write_textfile(output, metrics(2.0)) == (
        f"removed 1 temp file(s) that a killed writer left in {tmp_path}",
    )
    assert not temp.exists()


def test_a_recent_unlocked_temp_file_waits_unless_the_output_lock_is_held(tmp_path: Path) -> None:
    output = tmp_path / "out.prom"
    temp = tmp_path / ".out.prom.0123456789abcdef.tmp"
    temp.write_bytes(b"half")
    write_textfile(output, metrics(1.0))  # without the lock: it may be a writer's first moment
    assert temp.exists()
    with output_lock(output):
        write_textfile(output, metrics(2.0))
    assert not temp.exists()


def test_a_directory_that_cannot_be_synced_is_a_warning_not_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "out.prom"
    real_fsync = os.fsync

    def fsync(descriptor: int) -> None:
        if os.path.isdir(f"/proc/self/fd/{descriptor}"):
            raise OSError(errno.EIO, "Input/output error")
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)
    warnings = write_textfile(output, metrics(1.0))
    assert output.read_bytes() == metrics(1.0)
    assert warnings == (
        f"wrote {output}, but could not sync its directory (Input/output error): "
        "a crash may undo the write",
    )


# --- another user in a shared directory ---------------------------------------------------------

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to play two users")


@pytest.fixture
def shared() -> Iterator[Path]:
    """A root-owned base (0755) with a 1777 textfile directory in it, outside pytest's 0700
    tmp_path so that `nobody` can reach it; also beyond the promtool check of planted files."""
    base = Path(tempfile.mkdtemp(prefix="restic-exporter-shared-"))
    base.chmod(0o755)
    directory = base / "textfile"
    directory.mkdir()
    directory.chmod(0o1777)
    try:
        yield directory
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", base], check=True, timeout=60)


def as_nobody(action: Callable[[], None]) -> None:
    """Run `action` in a child process as uid/gid nobody; fail the test if it fails."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.umask(0o022)
            action()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the attacker's action failed"


def _forged(value: float = 4e9 - 1) -> bytes:
    return metrics(min(value, time.time()))


def _plant(kind: str, at: Path, outside: Path) -> Callable[[], None]:
    def plant() -> None:
        if kind == "link to a file outside":
            at.symlink_to(outside / "victim")
        elif kind == "link to nowhere outside":
            at.symlink_to(outside / "created-by-us")
        elif kind == "fifo":
            os.mkfifo(at)
        elif kind == "forged file":
            at.write_bytes(_forged())
        elif kind == "directory":
            at.mkdir()
            (at / "inside").write_text("theirs")
        else:
            raise AssertionError(kind)

    return plant


ATTACKS = ["link to a file outside", "link to nowhere outside", "fifo", "forged file", "directory"]


def _outside(shared: Path) -> Path:
    outside = shared.parent / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "victim").write_text("root's file")
    return outside


def _nothing_outside_changed(outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
    assert (outside / "victim").read_text() == "root's file"


@needs_root
@pytest.mark.parametrize("kind", ATTACKS)
def test_at_the_output_name_nothing_is_followed_or_trusted(shared: Path, kind: str) -> None:
    outside, output = _outside(shared), shared / "out.prom"
    as_nobody(_plant(kind, output, outside))
    previous = read_previous(output, time.time())
    assert previous.last_success == {}
    assert previous.warning is not None and str(output) in previous.warning
    if kind == "directory":
        with pytest.raises(OSError) as raised, output_lock(output):
            write_textfile(output, metrics(1.0))
        assert raised.value.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST)
        assert (output / "inside").read_text() == "theirs"
    elif kind in ("link to a file outside", "link to nowhere outside", "fifo"):
        # Not a regular file: never replaced (as -o /dev/stdout must not replace that link),
        # never written through.  One clear error; the name stays the attacker's.
        with pytest.raises(OSError, match="not replaced with metrics"), output_lock(output):
            write_textfile(output, metrics(1.0))
        assert output.is_symlink() or output.is_fifo()
    else:
        with output_lock(output):
            write_textfile(output, metrics(1.0))
        assert output.read_bytes() == metrics(1.0) and not output.is_symlink()
        assert output.stat().st_uid == 0
    _nothing_outside_changed(outside)
    assert _leftovers(shared) == []


@needs_root
@pytest.mark.parametrize("kind", ATTACKS)
def test_at_the_lock_name_one_clear_error(shared: Path, kind: str) -> None:
    outside, output = _outside(shared), shared / "out.prom"
    as_nobody(_plant(kind, shared / ".out.prom.lock", outside))
    with pytest.raises(OSError) as raised, output_lock(output, timeout_seconds=1):
        pytest.fail("the lock was taken")
    message = raised.value.strerror or ""
    assert str(shared / ".out.prom.lock") in message, message
    assert re.search(
        r"symbolic link|not a regular file|owned by uid 65534|Is a directory", message
    ), message
    _nothing_outside_changed(outside)
    assert not output.exists()


@needs_root
@pytest.mark.parametrize("kind", ATTACKS)
def test_at_temp_file_names_nothing_is_followed_or_removed(
    shared: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attacker plants at names of the temp-file pattern, including the very names the
    writer will draw first; their files are neither written through nor cleaned up."""
    outside, output = _outside(shared), shared / "out.prom"
    planted = [f"{n:016x}" for n in range(3)]
    for token in planted:
        as_nobody(_plant(kind, shared / f".out.prom.{token}.tmp", outside))
        old = time.time() - 3600
        os.utime(shared / f".out.prom.{token}.tmp", (old, old), follow_symlinks=False)
    draws = iter([*planted, "00000000000000ff"])
    monkeypatch.setattr("secrets.token_hex", lambda _: next(draws))
    with output_lock(output):
        assert write_textfile(output, metrics(1.0)) == ()
    assert output.read_bytes() == metrics(1.0)
    assert _leftovers(shared) == [f".out.prom.{token}.tmp" for token in planted]
    _nothing_outside_changed(outside)


@needs_root
@pytest.mark.parametrize("operation", ["write", "lock", "read previous"])
def test_an_intermediate_directory_made_a_link_by_another_user_is_refused(
    shared: Path, operation: str
) -> None:
    """Behind the link: a link to root's file (to write through) and a root-owned, plausible
    metrics file (to carry forward).  Neither is reached."""
    outside = _outside(shared)
    (outside / "out.prom").symlink_to("victim")
    forged = outside / "forged"
    forged.mkdir()
    (forged / "out.prom").write_bytes(_forged())
    target = forged if operation == "read previous" else outside
    as_nobody(lambda: (shared / "jobs").symlink_to(target))
    output = shared / "jobs" / "out.prom"
    expected = f"{shared}/jobs is a symbolic link owned by uid 65534, not by root or uid 0"
    if operation == "read previous":
        previous = read_previous(output, time.time())
        assert previous.last_success == {}
        assert previous.warning is not None and expected in previous.warning
    else:
        with pytest.raises(UnsafePath) as raised:
            if operation == "write":
                write_textfile(output, metrics(1.0))
            else:
                with output_lock(output):
                    pass
        assert expected in str(raised.value.strerror)
    assert (outside / "victim").read_text() == "root's file"
    assert sorted(p.name for p in outside.iterdir()) == ["forged", "out.prom", "victim"]
    assert sorted(p.name for p in forged.iterdir()) == ["out.prom"]


def test_links_of_our_own_on_the_way_are_followed(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "via").symlink_to("real")
    with output_lock(tmp_path / "via" / "out.prom"):
        write_textfile(tmp_path / "via" / "out.prom", metrics(1.0))
    assert (tmp_path / "real" / "out.prom").read_bytes() == metrics(1.0)


@needs_root
def test_a_directory_swapped_for_a_link_mid_write_changes_nothing(
    shared: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The directory is opened once: the attacker renames it away and puts a link to the outside
    in its place between the open and the write; the file lands in the directory that was
    opened, wherever it now is."""
    outside = _outside(shared)
    as_nobody(lambda: (shared / "jobs").mkdir())
    real_open = open_directory

    def open_then_swap(path: Path) -> int:
        descriptor = real_open(path)

        def swap() -> None:
            (shared / "jobs").rename(shared / "moved")
            (shared / "jobs").symlink_to(outside)

        as_nobody(swap)
        return descriptor

    monkeypatch.setattr("exporter.textfile.open_directory", open_then_swap)
    write_textfile(shared / "jobs" / "out.prom", metrics(1.0))
    assert (shared / "moved" / "out.prom").read_bytes() == metrics(1.0)
    _nothing_outside_changed(outside)


def test_a_process_lists_the_directory_again_once_someone_else_wrote_in_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The directory is not listed on every write (1,000 outputs in one directory would cost
    more than the writes), but a temp file left after our last write is still removed."""
    listed: list[str] = []
    real_listdir = os.listdir

    def listdir(directory: int) -> list[str]:
        listed.append("listed")
        return real_listdir(directory)

    monkeypatch.setattr(os, "listdir", listdir)
    output, memory = tmp_path / "out.prom", tmp_path / ".out.prom.runs.json"
    with output_lock(output):
        for value in (1.0, 2.0, 3.0):  # two files each time, as a publication writes them
            assert write_textfile(output, metrics(value)) == ()
            assert write_textfile(memory, b"{}") == ()
        assert len(listed) == 2  # once for each: our own writes leave it as we know it
        temp = tmp_path / ".out.prom.0123456789abcdef.tmp"
        temp.write_bytes(b"half")  # a writer killed after our last write
        assert write_textfile(output, metrics(4.0)) == (
            f"removed 1 temp file(s) that a killed writer left in {tmp_path}",
        )
        assert len(listed) == 3
        write_textfile(memory, b"{}")
        assert len(listed) == 4  # someone else changed the directory: listed again for each
    assert not temp.exists()
    assert output.read_bytes() == metrics(4.0)
