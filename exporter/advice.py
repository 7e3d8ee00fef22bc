"""What the exporter says about a setup that works but will surprise its user: the same words
from ``parse``, ``run`` and ``watch``, whether an option or a config key said it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

TARGET_LABELS = ("instance", "job")


def output_advice(output: Path, where: str = "") -> list[str]:
    if output.name.endswith(".prom"):
        return []
    return [
        f"{where}{output} does not end in .prom: node_exporter's textfile collector will skip it"
    ]


def label_advice(labels: Mapping[str, str], where: str = "--label ") -> list[str]:
    return [
        f"{where}{name}=...: Prometheus sets {name!r} itself when it scrapes node_exporter "
        f"and renames this one to exported_{name}; a name such as 'backup' avoids that"
        for name in TARGET_LABELS
        if name in labels
    ]


def missing_directory(path: Path) -> str | None:
    """Why files cannot be made at `path`: its directory does not exist (or is not one)."""
    directory = path.absolute().parent
    try:
        if directory.is_dir():
            return None
    except (OSError, ValueError):
        pass
    return f"the directory {directory} does not exist: create it (mkdir -p {directory})"
