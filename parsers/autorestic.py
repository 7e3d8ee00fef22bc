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
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
# "home@remote:" (the start of an error block at the end of the run)
ERROR_BLOCK = re.compile(r"^(?P<location>[^@\s][^@]*)@(?P<backend>[^@:]+):\s*$")
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
    location: str
    backend: str


@dataclass(frozen=True)
class ExitStatus:
    code: int


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
        return LocationHeader(match["name"])
    if match := BACKEND.match(line):
        return BackendHeader(match["name"])
    if match := FORGET_LOCATION.match(line):
        return ForgetLocationHeader(match["name"])
    if match := FORGET_BACKEND.match(line):
        return ForgetBackendHeader(match["name"])
    if EXECUTING.match(line) or OTHER.match(line):
        return AutoresticOther()
    if DONE.match(line):
        return LocationDone()
    if SECTION_END.match(line):
        return SectionEnd()
    if FINAL_ERROR.match(line):
        return FinalError()
    if match := EXIT_STATUS.match(line):
        return ExitStatus(int(match["code"]))
    if match := ERROR_BLOCK.match(line):
        return ErrorBlock(match["location"], match["backend"])
    return None
