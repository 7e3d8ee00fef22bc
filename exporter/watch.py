"""watch mode: a daemon that republishes each job's metrics when its log changes.

Data flow, after watchdog's own example: inotify (a watchdog observer on each log's directory,
no polling) -> a thin handler that only maps a path to typed messages (`exporter.watch_plan`)
and queues them -> the main thread, which waits on the queue (and on nothing else, so it costs
no CPU while nothing changes), lets `exporter.debounce` coalesce bursts, then re-reads only the
changed jobs' logs, from where it left off (`exporter.watch_job`), and publishes their metrics.
A change the debouncer holds back is read at once all the same (not published), so that a log
written without pause is published about one window behind.  A directory that cannot be watched
(a limit on inotify watches or threads) is said once, and its jobs' logs are looked at every
`POLL_SECONDS` instead.

Signals are queued too (``queue.SimpleQueue.put`` is safe in a signal handler): SIGTERM and
SIGINT stop the daemon, also in the middle of a long backlog, with every thread joined; SIGHUP
reloads the config.  Every job's read position is kept in a state file
(`exporter.positions`), so a restart reads on from where it was.  A job whose log is missing,
unreadable or not understood says so in its own metrics and in the daemon's log; the other jobs
go on.
"""

from __future__ import annotations

import errno
import os
import queue
import resource
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from exporter.config import Config
from exporter.daemon_log import LOGGER
from exporter.debounce import Debouncer
from exporter.follow import ReadingStopped
from exporter.notify import notify
from exporter.positions import SavedPosition, load_positions, save_positions
from exporter.watch_job import JobRunner
from exporter.watch_messages import Control, JobChanged, Message
from exporter.watch_plan import WatchPlan, plan_watches

FILES_PER_JOB = 2
"""A job keeps its log open; publishing opens its directory, lock and temp file for a moment."""
FILES_SPARE = 64
POLL_SECONDS = 10.0
"""How often a job whose log directory could not be watched (a limit was reached) is looked at."""


def _raise_open_file_limit(jobs: int) -> None:
    """Every followed log stays open: raise the soft limit on open files to the hard limit (as
    Go programs do), and say so once if even that is too few for this many jobs; then some jobs
    say "Too many open files" in their own metrics instead of going silently stale."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    except (OSError, ValueError):
        return
    needed = jobs * FILES_PER_JOB + FILES_SPARE
    if soft != resource.RLIM_INFINITY and soft < needed:
        LOGGER.warning(
            "%d job(s) need about %d open files, and the limit is %d: raise LimitNOFILE=",
            jobs,
            needed,
            soft,
        )


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return "inotify's limit on watches (fs.inotify.max_user_watches) is reached"
    if isinstance(error, OSError) and error.errno == errno.EMFILE:
        return "too many open files, or inotify instances (fs.inotify.max_user_instances)"
    return str(error)


class JobEvents(FileSystemEventHandler):
    """Thin: turns an event into the messages the plan says it means, and queues them."""

    def __init__(self, plan: WatchPlan, messages: queue.SimpleQueue[Message]) -> None:
        self._plan = plan
        self._messages = messages

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return  # reading a log (cat, logrotate, a backup of /var/log) changes nothing
        paths = [str(event.src_path)]
        if dest := getattr(event, "dest_path", ""):
            paths.append(str(dest))
        for message in self._plan.messages_for(event.event_type, paths):
            self._messages.put(message)


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
        self._messages: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self._runners: dict[str, JobRunner] = {}
        self._observer: BaseObserver | None = None
        self._config: Config | None = None
        self._saved: dict[str, SavedPosition] = {}
        self._polled: dict[str, tuple[int, int, int, int] | None] = {}
        """Jobs whose directory could not be watched, and how their log looked last."""
        self._next_poll = 0.0
        self._stop_requested = False
        self.ready = threading.Event()
        """Set once the first config is applied and every job's metrics were published."""

    def request_stop(self) -> None:
        """Stop soon, also in the middle of reading a backlog (what SIGTERM does; safe from
        any thread and from a signal handler)."""
        self._stop_requested = True
        self._messages.put(Control.STOP)

    def request_reload(self) -> None:
        self._messages.put(Control.RELOAD)

    def run(self, install_signal_handlers: bool = True) -> None:
        """Run until stopped.  Raises ConfigError when the first config is bad."""
        previous_handlers = self._install_signals() if install_signal_handlers else {}
        try:
            config = self._load_config()
            _raise_open_file_limit(len(config.jobs))
            self._apply(config)
            self.ready.set()
            notify("READY=1", f"STATUS=watching {len(self._runners)} log(s)")
            LOGGER.info("watching %d log(s)", len(self._runners))
            self._loop()
            notify("STOPPING=1")
            LOGGER.info("stopping")
        finally:
            self._stop_observer()
            self._save_positions()
            for runner in self._runners.values():
                runner.close()
            for signal_number, handler in previous_handlers.items():
                signal.signal(signal_number, handler)

    def _loop(self) -> None:
        debouncer = Debouncer(self._config.debounce_seconds if self._config else 0.0)
        while not self._stop_requested:
            now = time.monotonic()
            timeout = debouncer.seconds_until_due(now)
            if self._polled:
                until_poll = max(0.0, self._next_poll - now)
                timeout = until_poll if timeout is None else min(timeout, until_poll)
            try:
                message = self._messages.get(timeout=timeout)
            except queue.Empty:
                message = None
            if self._polled and time.monotonic() >= self._next_poll:
                self._poll(debouncer, time.monotonic())
            if message is Control.STOP:
                return
            if message is Control.RELOAD:
                self._reload()
                debouncer.delay_seconds = self._config.debounce_seconds if self._config else 0.0
            elif message is Control.RESCAN and self._config is not None:
                self._stop_observer()
                self._start_observer(plan_watches(self._config.jobs))
                self._refresh(set(self._runners))  # what changed while nothing was watched
            changed = None
            if isinstance(message, JobChanged) and message.key in self._runners:
                debouncer.add(message.key, time.monotonic())
                changed = message.key
            due = debouncer.take_due(time.monotonic())
            self._refresh(due)
            if changed is not None and changed not in due:
                self._read_ahead(changed)

    def _refresh(self, keys: set[str]) -> None:
        now = self._now()
        for key in sorted(keys):
            runner = self._runners.get(key)
            if runner is None or self._stop_requested:
                continue
            try:
                runner.refresh(now, lambda: self._stop_requested)
            except ReadingStopped:
                return  # stopping: the half-read job keeps its last saved position
            except Exception:  # a bug with one job's log must not stop the others
                LOGGER.exception("%s: refreshing failed", key)
            self._remember_position(runner)

    def _read_ahead(self, key: str) -> None:
        """A change that waits for the debouncer is read at once, not published: when the
        publication is due little is left to read, so a log written without pause is
        published about `debounce_seconds` behind, not a window plus a long read."""
        try:
            self._runners[key].read_ahead(lambda: self._stop_requested)
        except ReadingStopped:
            return
        except Exception:  # a bug with one job's log must not stop the others
            LOGGER.exception("%s: reading failed", key)

    def _remember_position(self, runner: JobRunner) -> None:
        """Only the refreshed job's position is computed: a change costs the same with a
        thousand jobs as with one."""
        position = runner.follower.position()
        if position is not None:
            self._saved[runner.job.key] = SavedPosition(runner.job.log, position)

    def _reload(self) -> None:
        notify("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")
        try:
            config = self._load_config()
            self._apply(config)
        except Exception as error:  # a bad new config keeps the old one running
            LOGGER.error("reload failed, keeping the running config: %s", error)
        else:
            LOGGER.info("reloaded: watching %d log(s)", len(self._runners))
        notify("READY=1", f"STATUS=watching {len(self._runners)} log(s)")

    def _apply(self, config: Config) -> None:
        """Watch `config`'s jobs; jobs that stay keep their followers.  Everything that can
        fail is done before the running config is touched."""
        plan = plan_watches(config.jobs)
        for warning in config.warnings:
            LOGGER.warning("%s", warning)
        self._save_positions()
        logs = {job.key: job.log for job in config.jobs}
        resume = load_positions(config.state_file, logs) if config.state_file else {}
        runners = {}
        for job in config.jobs:
            old = self._runners.get(job.key)
            runners[job.key] = old if old is not None and old.job == job else None
        self._stop_observer()
        for key, old in self._runners.items():
            if runners.get(key) is not old:
                old.close()
        self._runners = {
            job.key: runners[job.key] or JobRunner(job, resume.get(job.key)) for job in config.jobs
        }
        self._saved = {key: saved for key, saved in self._saved.items() if key in logs}
        self._config = config
        self._start_observer(plan)
        self._refresh(set(self._runners))  # the files say what the logs hold now

    def _start_observer(self, plan: WatchPlan) -> None:
        for directory, ancestor in plan.waiting:
            LOGGER.warning("%s does not exist yet: waiting for it in %s", directory, ancestor)
        observer = self._observer_factory()
        handler = JobEvents(plan, self._messages)
        failed: list[tuple[str, str]] = []
        try:
            observer.start()
        except (OSError, RuntimeError) as error:  # RuntimeError: no thread can be started
            failed = [(directory, str(error)) for directory in plan.directories]
        else:
            # One at a time, the observer running: a limit (inotify's watches, the threads a
            # unit may start: one a directory) costs the directories past it, not all.
            for directory in plan.directories:
                try:
                    observer.schedule(handler, directory, recursive=False)
                except (OSError, RuntimeError) as error:
                    failed.append((directory, _reason(error)))
        self._observer = observer
        self._polled = {key: self._log_signature(key) for key in plan.jobs_in(d for d, _ in failed)}
        self._next_poll = time.monotonic() + POLL_SECONDS
        if failed:
            LOGGER.error(
                "cannot watch %d of %d log directories (%s: %s): their %d job(s) are looked at "
                "every %g s instead; raise the limit (fs.inotify.max_user_watches, the unit's "
                "TasksMax=) and reload",
                len(failed),
                len(plan.directories),
                *failed[0],
                len(self._polled),
                POLL_SECONDS,
            )

    def _poll(self, debouncer: Debouncer, now: float) -> None:
        """The jobs in directories that could not be watched: a log whose file, size or time
        changed counts as changed."""
        self._next_poll = now + POLL_SECONDS
        for key, signature in self._polled.items():
            current = self._log_signature(key)
            if current != signature:
                self._polled[key] = current
                debouncer.add(key, now)

    def _log_signature(self, key: str) -> tuple[int, int, int, int] | None:
        runner = self._runners.get(key)
        if runner is None:
            return None
        try:
            status = os.stat(runner.job.log)
        except (OSError, ValueError):
            return None
        return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)

    def _stop_observer(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            if self._observer.is_alive():
                self._observer.join()
            self._observer = None

    def _save_positions(self) -> None:
        config = self._config
        if config is None or config.state_file is None:
            return
        saved = {key: entry for key, entry in self._saved.items() if key in self._runners}
        try:
            save_positions(config.state_file, saved)
        except OSError as error:
            LOGGER.error("cannot save the state to %s: %s", config.state_file, error)

    def _install_signals(self) -> dict[int, Any]:
        def stop(signal_number: int, frame: FrameType | None) -> None:
            self.request_stop()

        def reload(signal_number: int, frame: FrameType | None) -> None:
            self.request_reload()

        handlers = {signal.SIGTERM: stop, signal.SIGINT: stop, signal.SIGHUP: reload}
        return {number: signal.signal(number, handler) for number, handler in handlers.items()}
