"""An output path that names something other than a regular file is never replaced: as root,
``-o /dev/null`` would replace the device and ``-o /dev/stdout`` the link with a metrics file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from test_cli import GOOD_LOG, invoke


@pytest.mark.parametrize("kind", ["character device", "symbolic link", "FIFO", "directory"])
def test_an_output_that_is_not_a_regular_file_is_never_replaced(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "out"  # not .prom: the promtool check after each test would read it
    if kind == "character device":
        if os.geteuid() != 0:
            pytest.skip("making a device node needs root")
        os.mknod(target, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a null device of our own
    elif kind == "symbolic link":
        (tmp_path / "elsewhere").write_text("keep")
        target.symlink_to(tmp_path / "elsewhere")
    elif kind == "FIFO":
        os.mkfifo(target)
    else:
        target.mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    result = invoke(str(GOOD_LOG), "-o", str(target))
    assert result.exit_code == 5
    assert f"it is a {kind}, not replaced with metrics" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no lock, no memory beside it
    if kind == "character device":
        assert stat.S_ISCHR(target.lstat().st_mode)
    elif kind == "symbolic link":
        assert target.is_symlink() and (tmp_path / "elsewhere").read_text() == "keep"
    elif kind == "FIFO":
        assert stat.S_ISFIFO(target.lstat().st_mode)
    else:
        assert target.is_dir()


def test_watch_refuses_such_an_output_at_start(tmp_path: Path) -> None:
    from exporter.config import ConfigError, load_config

    os.mkfifo(tmp_path / "out")
    config = tmp_path / "exporter.toml"
    config.write_text(f'[[job]]\nlog = "{tmp_path / "a.log"}"\noutput = "{tmp_path / "out"}"\n')
    with pytest.raises(ConfigError, match="output: it is a FIFO, not replaced with metrics"):
        load_config(config)


def test_closed_standard_streams_are_one_line_not_a_traceback(tmp_path: Path) -> None:
    """cron and daemons may start us with stdin closed (``<&-``)."""
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "exporter", "parse", *args],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False,
            preexec_fn=lambda: os.close(0),
        )  # fmt: skip

    from_file = run(str(GOOD_LOG), "-o", str(tmp_path / "a.prom"))
    assert from_file.returncode == 0 and "Traceback" not in from_file.stderr
    from_stdin = run("-", "-o", str(tmp_path / "b.prom"))
    assert from_stdin.returncode == 3
    assert from_stdin.stderr.endswith("cannot read standard input: it is closed\n")
