"""Reports to prometheus_client metric families.  Pure: no I/O, no clock.

Values the log did not state are left out rather than written as 0, so that a failed run does not
look like a run that backed up nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.core import GaugeMetricFamily, Metric

from exporter import catalogue
from exporter.catalogue import MetricSpec
from exporter.report import BackupReport
from parsers.records import StateCounts


class _Families:
    """Collects samples per metric, every one carrying the user's labels first."""

    def __init__(self, labels: Mapping[str, str]) -> None:
        self._labels = dict(labels)
        self._families: dict[str, GaugeMetricFamily] = {}

    def add(self, spec: MetricSpec, value: float | None, **own_labels: str) -> None:
        if value is None:
            return
        family = self._families.get(spec.name)
        if family is None:
            family = GaugeMetricFamily(spec.name, spec.help, labels=[*self._labels, *spec.labels])
            self._families[spec.name] = family
        family.add_metric([*self._labels.values(), *(own_labels[n] for n in spec.labels)], value)

    def add_states(self, spec: MetricSpec, counts: StateCounts | None) -> None:
        if counts is None:
            return
        for state in ("new", "changed", "unmodified"):
            self.add(spec, getattr(counts, state), state=state)

    def families(self) -> list[Metric]:
        return list(self._families.values())


def backup_families(report: BackupReport, labels: Mapping[str, str]) -> list[Metric]:
    out = _Families(labels)
    run = report.run
    out.add(catalogue.BACKUP_SUCCESS, int(report.success))
    out.add(catalogue.BACKUP_EXIT_CODE, report.exit_code)
    if run is not None:
        out.add_states(catalogue.BACKUP_FILES, run.files)
        out.add_states(catalogue.BACKUP_DIRS, run.dirs)
        out.add(catalogue.BACKUP_ADDED_BYTES, run.added_bytes)
        out.add(catalogue.BACKUP_STORED_BYTES, run.stored_bytes)
        out.add(catalogue.BACKUP_PROCESSED_FILES, run.processed_files)
        out.add(catalogue.BACKUP_PROCESSED_BYTES, run.processed_bytes)
        out.add(catalogue.BACKUP_DURATION, run.duration_seconds)
        out.add(catalogue.BACKUP_BLOBS, run.data_blobs, type="data")
        out.add(catalogue.BACKUP_BLOBS, run.tree_blobs, type="tree")
        out.add(catalogue.BACKUP_ERRORS, run.errors)
        if run.added_bytes is not None:  # only the "Added"/"Would add" line tells a dry run
            out.add(catalogue.BACKUP_DRY_RUN, int(run.dry_run))
    out.add(catalogue.BACKUP_LAST_RUN, report.last_run_timestamp_seconds)
    out.add(catalogue.BACKUP_LAST_SUCCESS, report.last_success_timestamp_seconds)
    out.add(catalogue.EXPORTER_PARSE_SUCCESS, int(report.parse_success))
    return out.families()
