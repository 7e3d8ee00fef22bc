"""autorestic's own lines: the headers that split its log into location x backend sections.

autorestic (1.0 to 1.8.3, the strings are the same in all) runs restic once per location and
backend and writes everything into one log.  With ``-v``/``--ci`` restic's stdout is shown in the
section (streamed from 1.7.0); its stderr only when restic failed.  A failure is repeated at the
end as an error block ``NAME@BACKEND:``, restic's stderr, ``exit status N``, a blank line.
Composed from the format strings (no real run)::

    Using config: 	 /etc/autorestic/.autorestic.yml


        Backing up location "home"

    Backend: local
    > Executing: /usr/bin/restic backup --tag ar:location:home /home
    ...restic's summary...


      Forgetting for location "home"

    For backend "local"
    ...restic forget's output...
    Done
    Done

With colours on (a terminal), headers carry ANSI codes; the caller strips them before this module
sees the line.  Events: AutoresticStart (``Using config:``), LocationHeader, BackendHeader,
ForgetLocationHeader, ForgetBackendHeader, LocationDone, SectionEnd (hooks and copies, whose
output is not restic's), ErrorBlock, ExitStatus, FinalError (``Error: N errors were found``),
AutoresticOther (the rest of autorestic's own lines).

`Session` keeps autorestic's state while a log is read: which location x backend restic's lines
belong to, and what autorestic said about each pair.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

# "Using config: \t /etc/autorestic/.autorestic.yml", "Using env:\t /x", "Using lock:\t /y"
USING = re.compile(r"^Using (?P<what>config|config paths|env|lock):\s")
# '    Backing up location "home"    '
LOCATION = re.compile(r'^\s*Backing up location "(?P<name>.+)"\s*$')
# "Backend: local"
BACKEND = re.compile(r"^Backend: (?P<name>.+?)\s*$")
# '  Forgetting for location "home"  '
FORGET_LOCATION = re.compile(r'^\s*Forgetting for location "(?P<name>.+)"\s*$')
# 'For backend "local"'
FORGET_BACKEND = re.compile(r'^For backend "(?P<name>.+)"\s*$')
# "> Executing: /usr/bin/restic backup --tag ar:location:home /home"
EXECUTING = re.compile(r"^> Executing: ")
# "Done"
DONE = re.compile(r"^Done\s*$")
# "Running hooks", "Copying local → remote"
SECTION_END = re.compile(r"^(?:Running hooks|Copying .+ \u2192 .+)\s*$")
# "home@remote:" (the start of an error block at the end of the run).  Names may hold "@" and
# ":" themselves ("db@prod@s3:eu:"): the session splits the name by the locations it has seen.
ERROR_BLOCK = re.compile(r"^(?P<name>[^@\s][^@]*@.*?):\s*$")
# The split when the location is not known: at the first "@", a backend without ":".
PLAIN_ERROR_BLOCK = re.compile(r"^(?P<location>[^@\s][^@]*)@(?P<backend>[^@:]+)$")
_MAX_EXIT_STATUS = 255
# "exit status 1"
EXIT_STATUS = re.compile(r"^exit status (?P<code>\d+)\s*$")
# "Error: 2 errors were found" (stderr, the last line of a run with errors)
FINAL_ERROR = re.compile(r"^Error: \d+ errors? were found\s*$")
# 'Skipping "home", not due yet.'
OTHER = re.compile(r'^Skipping ".+", not due yet\.\s*$')


@dataclass(frozen=True)
class AutoresticStart:
    pass


@dataclass(frozen=True)
class LocationHeader:
    location: str


@dataclass(frozen=True)
class BackendHeader:
    backend: str


@dataclass(frozen=True)
class ForgetLocationHeader:
    location: str


@dataclass(frozen=True)
class ForgetBackendHeader:
    backend: str


@dataclass(frozen=True)
class LocationDone:
    pass


@dataclass(frozen=True)
class SectionEnd:
    pass


@dataclass(frozen=True)
class ErrorBlock:
    name: str
    """``LOCATION@BACKEND`` as autorestic prints it (either may hold ``@`` or ``:``)."""


@dataclass(frozen=True)
class ExitStatus:
    code: int | None
    """None for a number no process exits with (above 255): the line is malformed."""


@dataclass(frozen=True)
class FinalError:
    pass


@dataclass(frozen=True)
class AutoresticOther:
    pass


AutoresticEvent = (
    AutoresticStart
    | LocationHeader
    | BackendHeader
    | ForgetLocationHeader
    | ForgetBackendHeader
    | LocationDone
    | SectionEnd
    | ErrorBlock
    | ExitStatus
    | FinalError
    | AutoresticOther
)

# Lines that only autorestic prints: one of them switches a log into autorestic mode.
MARKERS = (AutoresticStart, LocationHeader, ForgetLocationHeader)


# Every line above starts like one of these, or ends "@BACKEND:": a quick test for the rest.
CANDIDATE = re.compile(
    r"^(?:Using |\s*Backing up location|Backend: |\s*Forgetting for location|For backend "
    r"|> Executing: |Done|Running hooks|Copying |Error: \d|exit status |Skipping \")|@[^@]*:\s*$"
)


def parse_line(line: str) -> AutoresticEvent | None:
    """autorestic's event for one line (ANSI codes already stripped), or None for other lines."""
    if not CANDIDATE.search(line):
        return None
    if match := USING.match(line):
        return AutoresticStart() if match["what"] == "config" else AutoresticOther()
    if match := LOCATION.match(line):
        return LocationHeader(_name(match["name"]))
    if match := BACKEND.match(line):
        return BackendHeader(_name(match["name"]))
    if match := FORGET_LOCATION.match(line):
        return ForgetLocationHeader(_name(match["name"]))
    if match := FORGET_BACKEND.match(line):
        return ForgetBackendHeader(_name(match["name"]))
    if EXECUTING.match(line) or OTHER.match(line):
        return AutoresticOther()
    if DONE.match(line):
        return LocationDone()
    if SECTION_END.match(line):
        return SectionEnd()
    if FINAL_ERROR.match(line):
        return FinalError()
    if match := EXIT_STATUS.match(line):
        digits = match["code"].lstrip("0") or "0"
        code = int(digits) if len(digits) <= 3 else None
        return ExitStatus(code if code is not None and code <= _MAX_EXIT_STATUS else None)
    if match := ERROR_BLOCK.match(line):
        return ErrorBlock(_name(match["name"]))
    return None


def _name(text: str) -> str:
    """A location or backend name as a label value: control characters (a stray carriage
    return) become "?", so the exposition stays one sample a line."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else "?" for char in text)


# --- the session: where in autorestic's log the reader is -----------------------------------------

SectionT = TypeVar("SectionT")
Pair = tuple[str, str]
"""A location and a backend."""


@dataclass(frozen=True)
class PairState:
    """What autorestic itself said about one location x backend in its latest run."""

    failed: bool
    """autorestic listed the pair among its errors."""
    exit_code: int | None
    finished: bool
    """The run got to its end: a pair it lists no error for succeeded."""
    backup: bool
    """autorestic started a backup of the pair."""


class Session(Generic[SectionT]):
    """autorestic's state while its log is read: the location x backend whose section the lines
    are in, the error blocks, whether the run finished.  A section is whatever `new_section`
    makes (the router's reader of restic's lines).  Only the latest autorestic run is kept: a
    ``Using config:`` line, or a location seen before, starts a new one."""

    def __init__(self, new_section: Callable[[], SectionT]) -> None:
        self._new_section = new_section
        self.active = False
        """The log is autorestic's (one of its `MARKERS` was read)."""
        self.runs = 0
        self.run_line = 0
        """The line the latest autorestic run started at."""
        self._reset()

    def _reset(self) -> None:
        self.sections: dict[Pair, SectionT] = {}
        self._locations: list[str] = []
        self._finished = False
        self._failed: dict[Pair, int | None] = {}
        self._location: str | None = None
        self._current: Pair | None = None
        self._error_block: Pair | None = None
        self._backing_up = False
        self._backups: set[Pair] = set()

    def claims(self, event: AutoresticEvent | None) -> bool:
        """The line of `event` is autorestic's own, not restic's."""
        return isinstance(event, MARKERS) or (self.active and event is not None)

    def feed(self, event: AutoresticEvent | None, line_number: int) -> None:
        """One of autorestic's own lines."""
        starts_run = isinstance(event, AutoresticStart) or (
            isinstance(event, LocationHeader) and event.location in self._locations
        )
        if not self.active or starts_run:
            self.active = True
            self.runs += 1
            self.run_line = line_number
            self._reset()
        if isinstance(event, ExitStatus):
            if self._error_block is not None:
                self._failed[self._error_block] = event.code
            return
        self._error_block = None
        if isinstance(event, LocationHeader | ForgetLocationHeader):
            self._backing_up = isinstance(event, LocationHeader)
            self._finished = False
            self._location = event.location
            self._current = None
            if event.location not in self._locations:
                self._locations.append(event.location)
        elif isinstance(event, BackendHeader | ForgetBackendHeader):
            if self._location is not None:
                self._current = (self._location, event.backend)
                self._section(self._current)
                if self._backing_up:
                    self._backups.add(self._current)
        elif isinstance(event, LocationDone | FinalError):
            self._finished = True
            self._current = None
        elif isinstance(event, SectionEnd):
            self._current = None
        elif isinstance(event, ErrorBlock):
            key = self._error_pair(event.name)
            if key is None:
                return  # not a pair of this run: a line of restic's that ends in ":"
            self._error_block = key
            self._failed[key] = None
            self._backups.add(key)
            self._section(key)

    def _error_pair(self, name: str) -> Pair | None:
        """The location and backend of an error block's ``NAME@BACKEND``: split after a
        location this run backed up (the longest, for ``db@prod`` beside ``db``), else at the
        first ``@``."""
        for location in sorted(self._locations, key=len, reverse=True):
            if name.startswith(location + "@") and len(name) > len(location) + 1:
                return (location, name[len(location) + 1 :])
        match = PLAIN_ERROR_BLOCK.match(name)
        return (match["location"], match["backend"]) if match else None

    def section_of(self, text: str) -> SectionT | None:
        """The section a line of restic's belongs to; None when it is no section's (restic's
        stderr repeated in an error block: it was shown in its section already)."""
        if self._error_block is not None:
            if not text.strip():
                self._error_block = None
            return None
        if self._current is None:
            return None
        return self._section(self._current)

    def state(self, pair: Pair) -> PairState:
        return PairState(
            failed=pair in self._failed,
            exit_code=self._failed.get(pair),
            finished=self._finished,
            backup=pair in self._backups,
        )

    def _section(self, pair: Pair) -> SectionT:
        section = self.sections.get(pair)
        if section is None:
            section = self.sections[pair] = self._new_section()
        return section
