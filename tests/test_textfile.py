"""The .prom writer: atomic, durable, 0644, never through a pre-existing name, nothing left over."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.core import GaugeMetricFamily

from exporter.exposition import exposition_text, metrics_registry
from exporter.textfile import write_textfile


def _content(generation: int) -> bytes:
    family = GaugeMetricFamily("restic_backup_success", "help text", labels=["generation"])
    for index in range(200):  # big enough that a torn write would show
        family.add_metric([f"{generation}-{index}"], 1)
    return exposition_text(metrics_registry([family]))


@pytest.fixture
def umask_077() -> Iterator[None]:
    old = os.umask(0o077)
    yield
    os.umask(old)


def test_file_is_0644_whatever_the_umask(tmp_path: Path, umask_077: None) -> None:
    target = tmp_path / "restic.prom"
    write_textfile(target, _content(1))
    assert target.stat().st_mode & 0o777 == 0o644
    assert target.read_bytes() == _content(1)


def test_nothing_but_the_target_is_left(tmp_path: Path) -> None:
    target = tmp_path / "restic.prom"
    for generation in range(3):
        write_textfile(target, _content(generation))
    assert [p.name for p in tmp_path.iterdir()] == ["restic.prom"]


def test_a_symlink_at_the_target_is_neither_written_through_nor_replaced(tmp_path: Path) -> None:
    """``-o /dev/stdout`` as root would otherwise replace that link with a metrics file."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    target = tmp_path / "restic.link"
    target.symlink_to(victim)
    with pytest.raises(OSError, match="it is a symbolic link, not replaced with metrics"):
        write_textfile(target, _content(1))
    assert victim.read_text() == "keep me"
    assert target.is_symlink() and sorted(p.name for p in tmp_path.iterdir()) == [
        "restic.link",
        "victim.txt",
    ]


def test_failed_rename_removes_the_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "restic.prom"
    target.mkdir()  # os.replace cannot put a file over a directory
    (target / "inside").write_text("x")
    with pytest.raises(OSError):
        write_textfile(target, _content(1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["restic.prom"]
    assert (target / "inside").read_text() == "x"


def test_readers_never_see_a_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "restic.prom"
    versions = {_content(g) for g in range(2)}
    write_textfile(target, _content(0))
    seen: list[bytes] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.append(target.read_bytes())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for round_ in range(200):
            write_textfile(target, _content(round_ % 2))
    finally:
        stop.set()
        reader.join()
    assert seen and set(seen) <= versions


def test_temp_files_are_invisible_to_the_textfile_collector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """node_exporter reads only names ending in .prom.  A spy on os.replace (which still does
    the real rename) records the temp file's name and that it is renamed within one directory."""
    renamed: list[str] = []
    real_replace = os.replace

    def spy(source: str, destination: str, *, src_dir_fd: int, dst_dir_fd: int) -> None:
        renamed.append(source)
        assert src_dir_fd == dst_dir_fd  # same directory: the rename is atomic
        assert os.path.samestat(os.fstat(src_dir_fd), tmp_path.stat())
        real_replace(source, destination, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)

    monkeypatch.setattr(os, "replace", spy)
    write_textfile(tmp_path / "restic.prom", _content(1))
    assert len(renamed) == 1
    assert re.fullmatch(r"\.restic\.prom\.[0-9a-f]{16}\.tmp", renamed[0])


def test_render_has_help_and_type_and_no_timestamps() -> None:
    text = _content(1).decode()
    assert text.startswith(
        "# HELP restic_backup_success help text\n# TYPE restic_backup_success gauge\n"
    )
    sample_lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert len(sample_lines) == 200
    for line in sample_lines:
        assert line.split("} ", 1)[1] == "1.0"  # the value alone, no timestamp after it
