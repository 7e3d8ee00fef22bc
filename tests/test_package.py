"""The Debian package as an administrator meets it: `apt install ./….deb` puts the command in
/usr/bin, the units in the system unit directory, the example config in /etc, the rules and the
dashboard in /usr/share; the drop-in's hook, exactly as installed, reports a real restic run;
`systemd-analyze verify` accepts the installed units; `apt purge` leaves nothing behind.

It installs into the real system, so it runs where .ci/run built the package (`.ci/build-deb`)
and exported its path as $RESTIC_EXPORTER_DEB: a root CI machine that is thrown away after.
Without that variable (pytest run by hand) the module is skipped; with it and no such file, the
tests fail."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import require_program
from helpers import value
from restic_runs import PASSWORD
from test_systemd import _fake_journalctl

ROOT = Path(__file__).parent.parent
PACKAGE = "restic-textfile-exporter"
DEB_VARIABLE = "RESTIC_EXPORTER_DEB"
COMMAND = Path("/usr/bin/restic-textfile-exporter")
UNITS = Path("/lib/systemd/system")
DROP_IN = UNITS / "restic-backup.service.d" / "restic-textfile-exporter.conf"
SHARE = Path("/usr/share/restic-textfile-exporter")
# Where the package may leave a trace; the dpkg and apt databases and the metrics are not it.
WATCHED = [Path(p) for p in ("/etc", "/lib/systemd", "/usr/bin", "/usr/share", "/opt", "/var/lib")]
NOT_WATCHED = [Path(p) for p in ("/var/lib/dpkg", "/var/lib/apt", "/var/lib/prometheus")]

if DEB_VARIABLE not in os.environ:
    pytest.skip(
        f"${DEB_VARIABLE} is not set: .ci/run builds the package and sets it (this test installs "
        "and purges it as root, on a machine that is thrown away after)",
        allow_module_level=True,
    )


def _clean_environment() -> dict[str, str]:
    """The installed command must not lean on this checkout or on pytest's virtual environment."""
    return {
        name: value
        for name, value in os.environ.items()
        if name not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    } | {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


def _apt(*arguments: str) -> None:
    result = subprocess.run(
        ["apt-get", "-y", "-q", "--no-install-recommends", *arguments],
        env={**_clean_environment(), "DEBIAN_FRONTEND": "noninteractive"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _installed() -> bool:
    status = subprocess.run(
        ["dpkg-query", "-W", "-f", "${db:Status-Status}", PACKAGE],
        capture_output=True,
        text=True,
        check=False,
    )
    return status.stdout == "installed"


def _files() -> set[Path]:
    files: set[Path] = {Path("/"), Path("/usr"), Path("/lib"), *WATCHED}
    for top in WATCHED:
        for directory, subdirectories, names in os.walk(top):
            here = Path(directory)
            subdirectories[:] = [d for d in subdirectories if here / d not in NOT_WATCHED]
            files.update(here / name for name in [*names, *subdirectories])
    return files


def _owned_files() -> set[Path]:
    listed = subprocess.run(
        ["dpkg-query", "-L", PACKAGE], capture_output=True, text=True, check=True
    ).stdout
    return {Path(line) for line in listed.splitlines() if line.startswith("/")}


@pytest.fixture(scope="module")
def deb() -> Path:
    path = Path(os.environ[DEB_VARIABLE])
    if not path.is_file():
        pytest.fail(f"${DEB_VARIABLE} names {path}, which does not exist: did .ci/build-deb fail?")
    return path


@pytest.fixture(scope="module")
def before(deb: Path) -> Iterator[set[Path]]:
    """Install the package, handing over what the watched trees held before it."""
    assert os.geteuid() == 0, "installing a package needs root"
    assert not _installed(), f"{PACKAGE} is already installed: this test needs a clean machine"
    files = _files()
    _apt("install", str(deb))
    yield files
    if _installed():
        _apt("purge", PACKAGE)


def test_the_package_is_named_and_versioned_as_the_project(deb: Path) -> None:
    version = re.search(r'^version = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert version is not None
    assert deb.name.startswith(f"{PACKAGE}_{version[1]}_")


def test_everything_lands_where_an_administrator_looks(before: set[Path]) -> None:
    owned = _owned_files()
    for path in (
        COMMAND,
        UNITS / "restic-backup.service",
        UNITS / "restic-backup.timer",
        UNITS / "restic-textfile-exporter.service",
        DROP_IN,
        Path("/etc/restic-textfile-exporter.toml"),
        SHARE / "restic-alerts.rules.yml",
        SHARE / "grafana-dashboard.json",
    ):
        assert path in owned, path
        assert path.exists(), path
    conffiles = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Conffiles}", PACKAGE],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "/etc/restic-textfile-exporter.toml" in conffiles
    assert (SHARE / "restic-alerts.rules.yml").read_text() == (
        ROOT / "exporter/assets/restic-alerts.rules.yml"
    ).read_text()
    rules = subprocess.run(
        [COMMAND, "assets", "rules"],
        env=_clean_environment(),
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert rules.stdout == (SHARE / "restic-alerts.rules.yml").read_text()


def test_every_unit_calls_the_installed_command(before: set[Path]) -> None:
    for unit in (DROP_IN, UNITS / "restic-textfile-exporter.service"):
        commands = re.findall(r"^Exec\w+=-?(\S+)", unit.read_text(), re.M)
        assert str(COMMAND) in commands, unit


def test_installed_units_verify(before: set[Path]) -> None:
    units = [str(UNITS / name) for name in ("restic-backup.service", "restic-backup.timer")]
    units.append(str(UNITS / "restic-textfile-exporter.service"))
    result = subprocess.run(
        [require_program("systemd-analyze"), "verify", *units],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0 and not result.stdout and not result.stderr, result.stderr


def _hook_as_installed(output: Path) -> list[str]:
    """The drop-in's ExecStopPost= command line, with its output moved to `output`."""
    text = DROP_IN.read_text().replace("\\\n", " ")
    line = next(line for line in text.splitlines() if line.startswith("ExecStopPost="))
    argv = shlex.split(line.removeprefix("ExecStopPost=").removeprefix("-"))
    argv[argv.index("--output") + 1] = str(output)
    return argv


def test_the_installed_hook_reports_a_real_failed_backup(before: set[Path], tmp_path: Path) -> None:
    """restic fails for real (wrong password); the hook runs as systemd runs ExecStopPost=."""
    repository = tmp_path / "repo"
    restic = require_program("restic")
    environment = {**_clean_environment(), "RESTIC_REPOSITORY": str(repository)}
    environment["RESTIC_CACHE_DIR"] = str(tmp_path / "cache")
    subprocess.run(
        [restic, "init"],
        env={**environment, "RESTIC_PASSWORD": PASSWORD},
        capture_output=True,
        timeout=120,
        check=True,
    )
    log = tmp_path / "backup.log"
    with log.open("wb") as out:
        code = subprocess.run(
            [restic, "backup", str(ROOT / "examples")],
            env={**environment, "RESTIC_PASSWORD": "wrong"},
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=False,
        ).returncode
    assert code == 1, log.read_text()
    invocation = "0123456789abcdef0123456789abcdef"
    bin_dir = _fake_journalctl(tmp_path, invocation, log)
    prom = tmp_path / "restic-backup.prom"
    hook = _hook_as_installed(prom)
    assert hook[:3] == [str(COMMAND), "parse", "--journal"]
    result = subprocess.run(
        hook,
        env={
            **_clean_environment(),
            "PATH": f"{bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin",
            "INVOCATION_ID": invocation,
            "SERVICE_RESULT": "exit-code",
            "EXIT_CODE": "exited",
            "EXIT_STATUS": str(code),
        },
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "backup failed" in result.stderr
    text = prom.read_text()
    assert value(text, "restic_backup_success", backup="system") == 0
    assert value(text, "restic_backup_exit_code", backup="system") == 1


def test_running_it_writes_nothing_into_the_package(before: set[Path]) -> None:
    """Byte-code ships checked by hash, so no run (even as root) adds a .pyc under /opt."""
    subprocess.run(
        [COMMAND, "parse", str(ROOT / "examples" / "restic-backup.log"), "--quiet"],
        env=_clean_environment(),
        cwd="/",
        capture_output=True,
        timeout=60,
        check=True,
    )
    venv = Path("/opt/venvs") / PACKAGE
    present = {venv, *venv.rglob("*")}
    assert present - _owned_files() == set()


def test_purge_leaves_nothing_behind(before: set[Path]) -> None:
    owned = _owned_files()
    _apt("purge", PACKAGE)
    assert not _installed()
    left = {path for path in owned if path.exists() or path.is_symlink()}
    assert left - before == set()
    assert _files() - before == set()
