"""One pipeline for every command that writes metrics: a reading of a log, with what the outputs
carry forward, becomes reports, whose run times are settled (`exporter.run_times`), then metric
families, then one registry that every output publishes.  A log that holds no run at all
(rotated, or only a script's header line) changes nothing an output already reports.
``parse``, ``watch`` and whatever comes next call `publish` and nothing else.

An output that cannot be written does not keep the others from being written: each is tried,
and the failures are returned together.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from exporter.errors import ExporterError, OutputUnwritable
from exporter.exposition import metrics_registry
from exporter.families import log_families
from exporter.outputs import Output, claimed
from exporter.previous import PreviousMetrics
from exporter.reading import LogReading
from exporter.report import SectionReport, log_report, make_report, missing_sections
from exporter.run_memory import RunMemory, SeenRun
from exporter.run_times import stamp_runs


@dataclass(frozen=True)
class PublishOptions:
    """How a reading is to be reported, the same for every output."""

    labels: Mapping[str, str] = field(default_factory=dict)
    """The user's labels, on every sample."""
    exit_code: int | None = None
    """restic's exit code as the caller knows it (``--exit-code``, ``$EXIT_STATUS``): it wins
    over what the log suggests, for the command that ran last."""
    partial_ok: bool = False
    """A snapshot saved although some files could not be read (exit 3) counts as a success."""
    live: bool = False
    """watch mode: a backup still running is reported as running, not as cut off."""
    run_just_ended: bool = False
    """The caller knows a run has just ended (``run`` saw it; an exit code was given, as a
    hook or ``cmd; parse --exit-code $?`` gives it): whatever its output, it is a new run with
    a time of its own, and a log that shows no run is that run's failure, not "nothing new"."""

    @property
    def knows_a_run_ended(self) -> bool:
        return self.run_just_ended or self.exit_code is not None


@dataclass(frozen=True)
class Publication:
    sections: tuple[SectionReport, ...]
    problem: ExporterError | None
    """Why the log was not fully understood; the metrics were published all the same."""
    warnings: tuple[str, ...]
    failed_outputs: tuple[OutputUnwritable, ...]
    """The outputs that could not be written (the others were)."""
    kept_previous: bool = False
    """The log holds no run (rotated, or only a script's header): the outputs keep reporting
    the run they reported before, untouched."""


def publish(
    reading: LogReading,
    options: PublishOptions,
    outputs: Sequence[Output],
    now: float,
) -> Publication:
    """Report `reading` to every output.  Never raises for a problem of the log or an output:
    both are in the result."""
    with claimed(tuple(outputs)) as (held, unclaimed):
        return _publish_claimed(reading, options, held, unclaimed, now)


def _publish_claimed(
    reading: LogReading,
    options: PublishOptions,
    targets: tuple[Output, ...],
    unclaimed: tuple[OutputUnwritable, ...],
    now: float,
) -> Publication:
    warnings = list(reading.warnings)
    failed = list(unclaimed)
    carried = [output.carried_forward(now) for output in targets]
    warnings.extend(item.previous.warning for item in carried if item.previous.warning)
    previous = _merged(item.previous for item in carried)
    memory = _merged_memory(item.memory for item in carried)
    if memory.runs and not options.knows_a_run_ended and _holds_no_run(reading):
        return Publication((), None, tuple(warnings), tuple(failed), kept_previous=True)
    sections = report_sections(reading, previous, options, now)
    stamped = stamp_runs(
        sections,
        memory,
        previous.last_success,
        options.labels,
        reading.written_timestamp_seconds,
        now,
        line_time=reading.line_time,
        new_run=options.knows_a_run_ended,
    )
    warnings.extend(stamped.warnings)
    registry = metrics_registry(log_families(stamped.sections, options.labels))
    # Where the next parse of this log may start: this reading's, or none (never an older one).
    memory = dataclasses.replace(stamped.memory, resume=reading.resume)
    for output in targets:
        try:
            warnings.extend(output.publish(registry, memory))
        except OutputUnwritable as error:
            failed.append(error)
    return Publication(stamped.sections, reading.problem, tuple(warnings), tuple(failed))


def _holds_no_run(reading: LogReading) -> bool:
    """The log was read and holds no run of any command: it was rotated (renamed, truncated,
    replaced by an empty file) or holds only lines of no run (a script's header)."""
    parsed = reading.parsed
    return (
        parsed is not None
        and not reading.line_error
        and not parsed.autorestic
        and not any(section.commands for section in parsed.sections)
    )


def report_sections(
    reading: LogReading,
    previous: PreviousMetrics,
    options: PublishOptions,
    now: float,
) -> tuple[SectionReport, ...]:
    """The reports for a reading, with what the previous publication carries forward."""
    written_at = reading.written_timestamp_seconds
    log_time = written_at if written_at is not None else now
    if reading.parsed is None:
        report = make_report(
            None,
            exit_code=options.exit_code,
            log_written_timestamp_seconds=log_time,
            previous_last_success_timestamp_seconds=previous.last_success_for(options.labels),
            problem=str(reading.problem),
        )
        return (SectionReport({}, report, ()),)
    sections = log_report(
        reading.parsed,
        exit_code=options.exit_code,
        log_written_timestamp_seconds=log_time,
        last_success=previous.last_success_for,
        user_labels=options.labels,
        problem=str(reading.problem) if reading.line_error else None,
        live_now=now if options.live else None,
        partial_ok=options.partial_ok,
    )
    if reading.parsed.autorestic:
        sections += missing_sections(
            sections, previous.backup_label_sets, previous.last_success_for, options.labels
        )
    return sections


def _merged(previous: Iterable[PreviousMetrics]) -> PreviousMetrics:
    """What several outputs carry forward, together: the latest last success of each label set
    (one output may have missed a publication that another got)."""
    last_success: dict[frozenset[tuple[str, str]], float] = {}
    label_sets: list[dict[str, str]] = []
    for metrics in previous:
        for labels, value in metrics.last_success.items():
            last_success[labels] = max(value, last_success.get(labels, value))
        label_sets.extend(s for s in metrics.backup_label_sets if s not in label_sets)
    return PreviousMetrics(last_success, tuple(label_sets))


def _merged_memory(memories: Iterable[RunMemory]) -> RunMemory:
    runs: dict[str, SeenRun] = {}
    for memory in memories:
        for key, seen in memory.runs.items():
            runs.setdefault(key, seen)  # the first output's memory wins
    return RunMemory(runs)
