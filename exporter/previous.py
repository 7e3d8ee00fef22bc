"""What must survive from one run of the exporter to the next, read back from the previous
``.prom`` file itself: the last successful backup's time per label set, and which autorestic
locations and backends it reported.  There is no state file to lose, and a failed backup does
not erase when the last good one happened."""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from exporter.catalogue import BACKUP_LAST_SUCCESS, BACKUP_SUCCESS

# A metrics file of ours is a few KiB; anything far larger is not ours and is not parsed.
MAX_PREVIOUS_FILE_BYTES = 4 * 1024 * 1024

CLOCK_DRIFT_SECONDS = 3600.0

_LabelSet = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class PreviousMetrics:
    last_success: dict[_LabelSet, float] = field(default_factory=dict)
    backup_label_sets: tuple[dict[str, str], ...] = ()

    def last_success_for(self, labels: Mapping[str, str]) -> float | None:
        """The last-success timestamp written for exactly `labels`, if any."""
        return self.last_success.get(frozenset(labels.items()))


def read_previous(path: Path | None, now: float) -> PreviousMetrics:
    """What `path` held; nothing when it is missing, unreadable, too large, not a regular file
    (a FIFO would block) or not ours.  Times later than `now` (give or take a clock's drift)
    are ignored: a garbled future value must not hold off a "backup too old" alert forever."""
    if path is None:
        return PreviousMetrics()
    data = _read_regular_file(path)
    if data is None:
        return PreviousMetrics()
    last_success: dict[_LabelSet, float] = {}
    label_sets: list[dict[str, str]] = []
    try:
        for family in text_string_to_metric_families(data.decode("utf-8")):
            for sample in family.samples:
                if sample.name == BACKUP_LAST_SUCCESS.name:
                    value = float(sample.value)
                    if math.isfinite(value) and 0 < value <= now + CLOCK_DRIFT_SECONDS:
                        last_success[frozenset(sample.labels.items())] = value
                elif sample.name == BACKUP_SUCCESS.name:
                    label_sets.append(dict(sample.labels))
    except (ValueError, UnicodeDecodeError, IndexError, TypeError):
        return PreviousMetrics()
    return PreviousMetrics(last_success, tuple(label_sets))


def _read_regular_file(path: Path) -> bytes | None:
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return None
        data = os.read(descriptor, MAX_PREVIOUS_FILE_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(descriptor)
    return data if len(data) <= MAX_PREVIOUS_FILE_BYTES else None
