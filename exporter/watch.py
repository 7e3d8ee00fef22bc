"""watch mode: a daemon that rewrites each job's metrics file when its log changes.

Data flow, after watchdog's own example: inotify (a watchdog observer on each log's directory,
no polling) -> a thin handler that only maps a path to its jobs and queues them -> the main
thread, which waits on the queue (and on nothing else, so it costs no CPU while nothing changes),
gathers what arrives within `debounce_seconds` of the first event, then re-reads only the
changed jobs' logs, from where it left off, and rewrites their files.

Signals are queued too (``queue.SimpleQueue.put`` is safe in a signal handler): SIGTERM and
SIGINT stop the daemon after the job at hand, with every thread joined; SIGHUP reloads the
config.  Every job's read position is kept in a state file, so a restart reads on from where it
was.  A job whose log is missing, unreadable or not understood says so in its own metrics and in
the daemon's log; the other jobs go on.
"""

from __future__ import annotations

import json
import queue
import signal
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from exporter.config import Config, Job
from exporter.daemon_log import LOGGER
from exporter.errors import LogUnreadable, OutputUnwritable
from exporter.families import log_families
from exporter.follow import LogFollower, Position
from exporter.notify import notify
from exporter.oneshot import LogReading, reading_of, report_sections, write_metrics
from exporter.textfile import render, write_textfile

_STOP = "stop"
_RELOAD = "reload"
_RESCAN = "rescan"


def _nearest_existing(directory: Path) -> tuple[Path, Path | None]:
    """`directory` if it exists, else its nearest existing ancestor and the child of that
    ancestor on the way to `directory` (whose creation is worth waking up for)."""
    missing = None
    while not directory.is_dir() and directory != directory.parent:
        missing, directory = directory, directory.parent
    return directory, missing


class _JobEvents(FileSystemEventHandler):
    """Thin: maps an event's paths to the jobs that watch them, and queues those."""

    def __init__(self, jobs_by_path: dict[str, list[str]], events: queue.SimpleQueue[str]) -> None:
        self._jobs_by_path = jobs_by_path
        self._events = events

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return  # reading a log (cat, logrotate, a backup of /var/log) changes nothing
        for path in (event.src_path, getattr(event, "dest_path", "")):
            for key in self._jobs_by_path.get(str(path), ()):
                self._events.put(key)


class _JobRunner:
    """One job: its follower and the writing of its metrics file."""

    def __init__(self, job: Job, resume: Position | None) -> None:
        self.job = job
        self.follower = LogFollower(job.log, resume)
        self._last_problem: str | None = None

    def refresh(self, now: float) -> None:
        """Read on and rewrite the metrics.  Nothing about one job's log stops the daemon."""
        unreadable: LogUnreadable | None = None
        written_at = None
        try:
            self.follower.read_appended()
            written_at = self._mtime()
        except LogUnreadable as error:
            unreadable = error
        except OSError as error:
            unreadable = LogUnreadable(f"cannot read log {self.job.log}: {error.strerror}")
        reading = LogReading(None, unreadable, None) if unreadable else self._reading(written_at)
        sections = report_sections(
            reading,
            self.job.output,
            self.job.labels,
            None,
            now,
            live=True,
            partial_ok=self.job.partial_ok,
        )
        try:
            write_metrics(self.job.output, render(log_families(sections, self.job.labels)))
        except OutputUnwritable as error:
            LOGGER.error("%s: %s", self.job.key, error)
            return
        problem = str(reading.problem) if reading.problem else None
        if problem != self._last_problem:  # say it once, not at every change of the log
            if problem:
                LOGGER.warning("%s: %s", self.job.key, problem)
            elif self._last_problem:
                LOGGER.info("%s: %s is understood again", self.job.key, self.job.log)
        self._last_problem = problem

    def _reading(self, written_at: float | None) -> LogReading:
        if self.follower.position() is None and self.follower.parser.lines == 0:
            missing = LogUnreadable(f"log {self.job.log} does not exist (yet)")
            return LogReading(None, missing, None)
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
        except FileNotFoundError:
            return None


class Daemon:
    def __init__(
        self,
        load_config: Callable[[], Config],
        now: Callable[[], float] = time.time,
        observer_factory: Callable[[], BaseObserver] = Observer,
    ) -> None:
        self._load_config = load_config
        self._now = now
        self._observer_factory = observer_factory
        self._events: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._runners: dict[str, _JobRunner] = {}
        self._observer: BaseObserver | None = None
        self._config: Config | None = None
        self._positions: dict[str, dict[str, object]] = {}

    def request_stop(self) -> None:
        """Stop after the job at hand (what SIGTERM does; safe from any thread)."""
        self._events.put(_STOP)

    def request_reload(self) -> None:
        self._events.put(_RELOAD)

    def run(self, install_signal_handlers: bool = True) -> None:
        """Run until stopped.  Raises ConfigError when the first config is bad."""
        previous_handlers = self._install_signals() if install_signal_handlers else {}
        try:
            self._apply(self._load_config())
            notify("READY=1", f"STATUS=watching {len(self._runners)} log(s)")
            LOGGER.info("watching %d log(s)", len(self._runners))
            self._loop()
            notify("STOPPING=1")
            LOGGER.info("stopping")
        finally:
            self._stop_observer()
            self._save_state()
            for runner in self._runners.values():
                runner.follower.close()
            for signal_number, handler in previous_handlers.items():
                signal.signal(signal_number, handler)

    def _loop(self) -> None:
        pending: set[str] = set()
        deadline: float | None = None
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = self._events.get(timeout=timeout)
            except queue.Empty:
                self._refresh(pending)
                pending.clear()
                deadline = None
                continue
            if item == _STOP:
                return
            if item == _RELOAD:
                self._reload()
                continue
            if item == _RESCAN and self._config is not None:  # a missing log directory appeared
                self._stop_observer()
                self._start_observer(self._config)
                self._refresh(set(self._runners))
                continue
            if item in self._runners:
                pending.add(item)
                if deadline is None and self._config is not None:
                    deadline = time.monotonic() + self._config.debounce_seconds

    def _refresh(self, keys: set[str]) -> None:
        now = self._now()
        for key in sorted(keys):
            runner = self._runners.get(key)
            if runner is None:
                continue
            try:
                runner.refresh(now)
            except Exception:  # a bug with one job's log must not stop the others
                LOGGER.exception("%s: refreshing failed", key)
            self._remember_position(runner)

    def _remember_position(self, runner: _JobRunner) -> None:
        """Only the refreshed job's position is computed: a change costs the same with a
        thousand jobs as with one."""
        position = runner.follower.position()
        if position is not None:
            self._positions[runner.job.key] = {
                "log": str(runner.job.log),
                "position": asdict(position),
            }

    def _reload(self) -> None:
        notify("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")
        try:
            config = self._load_config()
        except Exception as error:  # a bad new config keeps the old one running
            LOGGER.error("reload failed, keeping the running config: %s", error)
        else:
            try:
                self._apply(config)
            except Exception:
                LOGGER.exception("reload failed")
            else:
                LOGGER.info("reloaded: watching %d log(s)", len(self._runners))
        notify("READY=1", f"STATUS=watching {len(self._runners)} log(s)")

    def _apply(self, config: Config) -> None:
        """Start watching `config`'s jobs; jobs that stay keep their followers."""
        self._stop_observer()
        self._save_state()
        saved = self._load_state(config)
        runners = {}
        for job in config.jobs:
            old = self._runners.pop(job.key, None)
            if old is not None and old.job == job:
                runners[job.key] = old
            else:
                if old is not None:
                    old.follower.close()
                runners[job.key] = _JobRunner(job, saved.get(job.key))
        for gone in self._runners.values():
            gone.follower.close()
        self._runners = runners
        self._config = config
        self._start_observer(config)
        self._refresh(set(runners))  # the files say what the logs hold now

    def _start_observer(self, config: Config) -> None:
        """Watch each log's directory.  A directory that does not exist yet: watch its nearest
        existing ancestor for it to appear (then `_RESCAN` watches again, one level closer)."""
        jobs_by_path: dict[str, list[str]] = {}
        for job in config.jobs:
            # A symlinked log changes where its target lives: watch both places.
            for path in {job.log.absolute(), job.log.resolve()}:
                jobs_by_path.setdefault(str(path), []).append(job.key)
        watched: set[str] = set()
        for directory in {Path(path).parent for path in jobs_by_path}:
            ancestor, waiting_for = _nearest_existing(directory)
            watched.add(str(ancestor))
            if waiting_for is not None:
                jobs_by_path.setdefault(str(waiting_for), []).append(_RESCAN)
                LOGGER.warning("%s does not exist yet: waiting for it in %s", directory, ancestor)
        observer = self._observer_factory()
        handler = _JobEvents(jobs_by_path, self._events)
        try:
            for watched_directory in sorted(watched):
                observer.schedule(handler, watched_directory, recursive=False)
            observer.start()
        except OSError as error:  # e.g. inotify's watch limit: the jobs wait for a reload
            LOGGER.error("cannot watch the log directories: %s", error)
            observer.stop()
        self._observer = observer

    def _stop_observer(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
            self._observer = None

    def _install_signals(self) -> dict[int, Any]:
        def stop(signal_number: int, frame: FrameType | None) -> None:
            self.request_stop()

        def reload(signal_number: int, frame: FrameType | None) -> None:
            self.request_reload()

        handlers = {signal.SIGTERM: stop, signal.SIGINT: stop, signal.SIGHUP: reload}
        return {number: signal.signal(number, handler) for number, handler in handlers.items()}

    # --- state: read positions, kept across restarts --------------------------------------------

    def _load_state(self, config: Config) -> dict[str, Position]:
        if config.state_file is None:
            return {}
        try:
            data = json.loads(config.state_file.read_text())
            return {
                key: Position(**entry["position"])
                for key, entry in data.get("jobs", {}).items()
                if isinstance(entry, dict) and entry.get("log") == str(self._job_log(config, key))
            }
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return {}

    @staticmethod
    def _job_log(config: Config, key: str) -> Path | None:
        return next((job.log for job in config.jobs if job.key == key), None)

    def _save_state(self) -> None:
        config = self._config
        if config is None or config.state_file is None:
            return
        jobs = {key: self._positions[key] for key in self._runners if key in self._positions}
        try:
            write_textfile(config.state_file, json.dumps({"jobs": jobs}, indent=1).encode())
        except OSError as error:
            LOGGER.error("cannot save the state to %s: %s", config.state_file, error)
