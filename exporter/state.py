"""What must survive from one run of the exporter to the next: the last successful backup's time.

It is read back from the previous ``.prom`` file itself, so there is no state file to lose, and a
failed backup does not erase when the last good one happened.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from exporter.catalogue import BACKUP_LAST_SUCCESS

# A metrics file of ours is a few KiB; anything far larger is not ours and is not parsed.
MAX_PREVIOUS_FILE_BYTES = 4 * 1024 * 1024


def previous_last_success(path: Path, labels: Mapping[str, str]) -> float | None:
    """The last-success timestamp that `path` holds for exactly `labels`, if it holds one."""
    try:
        with path.open("rb") as previous:
            data = previous.read(MAX_PREVIOUS_FILE_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_PREVIOUS_FILE_BYTES:
        return None
    wanted = dict(labels)
    try:
        for family in text_string_to_metric_families(data.decode("utf-8")):
            if family.name != BACKUP_LAST_SUCCESS.name:
                continue
            for sample in family.samples:
                if sample.name == BACKUP_LAST_SUCCESS.name and sample.labels == wanted:
                    value = float(sample.value)
                    return value if math.isfinite(value) and value > 0 else None
    except (ValueError, UnicodeDecodeError, IndexError, TypeError):
        return None
    return None
