"""When each reported run happened: the best clock available, and never a time that moves.

For a run the output has not reported before, the time is, in this order:

1. restic's own end time (JSON ``backup_end``, restic 0.18+), when it is a plausible time;
2. when the run's last line was written, where the log's source says it (the journal);
3. when the log was last written (its mtime), as the exporter first sees the run complete;
4. now, for a log without an mtime (stdin).

A time in the future is replaced by now and one before 1970 by the next clock, with a warning:
a last success in the future would outlive the real one.  For a run the output has reported
before (`exporter.run_memory`), the time first written is kept.  Pure: `now` is passed in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from exporter.report import BackupReport, CommandReport, SectionReport
from exporter.run_memory import RunMemory, SeenRun, memory_key, run_id
from parsers import BackupRun
from parsers.records import CommandRun

CLOCK_DRIFT_SECONDS = 300.0
"""How far ahead of our clock a time may be before it is taken for a wrong one."""
START_WANDER = 2.0
"""How far two estimates of a running backup's start may lie apart and still be one run's."""


@dataclass(frozen=True)
class StampedSections:
    sections: tuple[SectionReport, ...]
    memory: RunMemory
    warnings: tuple[str, ...]


def stamp_runs(
    sections: tuple[SectionReport, ...],
    memory: RunMemory,
    previous_last_success: Mapping[frozenset[tuple[str, str]], float],
    user_labels: Mapping[str, str],
    log_written_timestamp_seconds: float | None,
    now: float,
    line_time: Callable[[int], float | None] | None = None,
    new_run: bool = False,
) -> StampedSections:
    """`sections` with each run's times settled, and the memory that says so.  `line_time`
    tells when a line (by number) was written, where the log's source knows.  `new_run`: the
    caller knows the latest run just ended, so it takes the best clock even if its output is
    the same as the run remembered (a nightly failure that prints the same lines)."""
    stamper = _Stamper(memory, log_written_timestamp_seconds, now, line_time, new_run)
    stamped = []
    for section in sections:
        labels = {**user_labels, **section.labels}
        backup = section.backup
        if backup is not None:
            previous = previous_last_success.get(frozenset(labels.items()))
            backup = stamper.backup(backup, labels, previous)
        commands = tuple(stamper.command(report, labels) for report in section.commands)
        stamped.append(dataclasses.replace(section, backup=backup, commands=commands))
    runs = dict(memory.runs)
    runs.update(stamper.seen)
    return StampedSections(tuple(stamped), RunMemory(runs), tuple(stamper.warnings))


class _Stamper:
    def __init__(
        self,
        memory: RunMemory,
        written_at: float | None,
        now: float,
        line_time: Callable[[int], float | None] | None,
        new_run: bool = False,
    ) -> None:
        self._new_run = new_run
        self._memory = memory
        self._written_at = written_at
        self._now = now
        self._line_time = line_time
        self.seen: dict[str, SeenRun] = {}
        self.warnings: list[str] = []

    def backup(
        self, report: BackupReport, labels: Mapping[str, str], previous: float | None
    ) -> BackupReport:
        report = self._steady_start(report, labels)
        run = report.run
        if run is None or report.last_run_timestamp_seconds is None:
            return report
        last_run = self._time_of(run, labels, "backup")
        last_success = previous
        if report.success:
            last_success = max(last_run, previous) if previous is not None else last_run
        return dataclasses.replace(
            report,
            last_run_timestamp_seconds=last_run,
            last_success_timestamp_seconds=last_success,
        )

    def _steady_start(self, report: BackupReport, labels: Mapping[str, str]) -> BackupReport:
        """A running backup's start is estimated as "written minus elapsed", and restic prints
        whole seconds: the estimate wanders by a second from one status line to the next.  The
        earliest estimate within `START_WANDER` of the one written before is kept, so
        the start of one run stays put; a later run starts far from it."""
        live = report.live
        if live is None or not live.running or live.started_timestamp_seconds is None:
            return report
        key = memory_key(labels, "backup (running)")
        started = live.started_timestamp_seconds
        seen = self._memory.runs.get(key)
        if seen is not None and abs(seen.last_run_timestamp_seconds - started) <= START_WANDER:
            started = min(started, seen.last_run_timestamp_seconds)
        self.seen[key] = SeenRun("running", started)
        return dataclasses.replace(
            report, live=dataclasses.replace(live, started_timestamp_seconds=started)
        )

    def command(self, report: CommandReport, labels: Mapping[str, str]) -> CommandReport:
        if report.success is None:  # still at work: not a run that happened yet
            return report
        last_run = self._time_of(report.run, labels, report.command)
        return dataclasses.replace(report, last_run_timestamp_seconds=last_run)

    def _time_of(
        self, run: BackupRun | CommandRun, labels: Mapping[str, str], command: str
    ) -> float:
        key = memory_key(labels, command)
        identity = run_id(run)
        seen = self._memory.runs.get(key)
        if seen is not None and seen.run_id == identity and not self._new_run:
            moment = seen.last_run_timestamp_seconds
        else:
            moment = self._best_clock(run, command)
            dropped = run.dropped_values if isinstance(run, BackupRun) else ()
            if dropped:  # said once: when the run is new
                self.warnings.append(
                    f"{command}: restic printed values that cannot be true, left out: "
                    + ", ".join(dropped)
                )
        self.seen[key] = SeenRun(identity, moment)
        return moment

    def _best_clock(self, run: BackupRun | CommandRun, command: str) -> float:
        own = run.ended_timestamp_seconds if isinstance(run, BackupRun) else None
        last_line = self._line_time(run.last_line) if self._line_time is not None else None
        clocks = (
            ("restic's end time", own),
            ("the time of its last line", last_line),
            ("the log's mtime", self._written_at),
        )
        for name, moment in clocks:
            if moment is None:
                continue
            if moment <= 0:
                self.warnings.append(f"{command}: {name} {moment:.0f} is before 1970: ignored")
                continue
            if moment > self._now + CLOCK_DRIFT_SECONDS:
                self.warnings.append(
                    f"{command}: {name} ({moment:.0f}) is in the future: "
                    f"taking now ({self._now:.0f}) instead"
                )
                return self._now
            return min(moment, self._now)
        return self._now
