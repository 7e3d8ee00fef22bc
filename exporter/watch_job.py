"""One watched job: its follower, and the publication of its metrics when its log changed."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from exporter.config import Job
from exporter.daemon_log import LOGGER
from exporter.errors import LogUnreadable
from exporter.follow import LogFollower
from exporter.outputs import Output, TextfileOutput
from exporter.pipeline import PublishOptions, publish
from exporter.positions import Position
from exporter.push import PushgatewayOutput, job_push_settings
from exporter.reading import LogReading, reading_of


class JobRunner:
    def __init__(self, job: Job, resume: Position | None) -> None:
        self.job = job
        self.follower = LogFollower(job.log, resume)
        self.options = PublishOptions(labels=job.labels, partial_ok=job.partial_ok, live=True)
        self.outputs: tuple[Output, ...] = (TextfileOutput(job.output),)
        if job.push:
            settings = job_push_settings(job.push_options, job.labels)
            self.outputs += tuple(
                PushgatewayOutput(url, settings, job.labels, read_back=False) for url in job.push
            )
        self._last_problem: str | None = None

    def refresh(self, now: float, should_stop: Callable[[], bool]) -> None:
        """Read on and publish.  Nothing about one job's log stops the daemon.  Raises
        ReadingStopped when `should_stop` interrupted the reading (nothing is published)."""
        unreadable: LogUnreadable | None = None
        written_at = None
        try:
            self.follower.read_appended(should_stop)
            written_at = self._mtime()
        except LogUnreadable as error:
            unreadable = error
        except (OSError, ValueError) as error:  # ValueError: a NUL byte in the path
            reason = error.strerror if isinstance(error, OSError) else str(error)
            unreadable = LogUnreadable(f"cannot read log {self.job.log}: {reason}")
        reading = LogReading(None, unreadable, None) if unreadable else self._reading(written_at)
        publication = publish(reading, self.options, self.outputs, now)
        for failure in publication.failed_outputs:
            LOGGER.error("%s: %s", self.job.key, failure)
        for warning in publication.warnings[len(reading.warnings) :]:  # the outputs' own
            LOGGER.warning("%s: %s", self.job.key, warning)
        problem = str(reading.problem) if reading.problem else None
        if problem != self._last_problem:  # say it once, not at every change of the log
            if problem:
                LOGGER.warning("%s: %s", self.job.key, problem)
            elif self._last_problem:
                LOGGER.info("%s: %s is understood again", self.job.key, self.job.log)
        self._last_problem = problem

    def read_ahead(self, should_stop: Callable[[], bool]) -> None:
        """Read what was appended, without publishing it: a log written without pause is
        published once per debounce window, and when that is due little is left to read.
        What goes wrong is left to `refresh`, which reads again and says so.  Raises
        ReadingStopped as `refresh` does."""
        with contextlib.suppress(LogUnreadable, OSError, ValueError):
            self.follower.read_appended(should_stop)

    def close(self) -> None:
        self.follower.close()

    def _reading(self, written_at: float | None) -> LogReading:
        if self.follower.position() is None and self.follower.parser.lines == 0:
            # Read as a log that holds no run: an output that reported a run keeps it (the
            # log was rotated away, and the daemon restarted before a new one was made).
            missing = LogUnreadable(f"log {self.job.log} does not exist (yet)")
            return LogReading(self.follower.parser.result(), missing, None)
        return reading_of(
            self.follower.parser,
            str(self.job.log),
            self.follower.skipped_long_lines,
            written_at,
            live=True,
        )

    def _mtime(self) -> float | None:
        try:
            return self.job.log.stat().st_mtime
        except (OSError, ValueError):
            return None
