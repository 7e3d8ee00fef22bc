"""A log read through the parser: what it holds and what kept it from being understood.

Every problem with the log becomes part of the reading (nothing is raised): a log that cannot be
read or understood still gets metrics that say so.

A log that every nightly run appends to grows for years, and the result depends only on its
latest runs.  So a one-shot ``parse`` of a regular file into a ``.prom`` file leaves a
`ResumePoint` in that file's run memory: the first line (offset and number) of the oldest run
the parser still held, and how to know the log is the one that was read.  The next ``parse`` of
the same log into the same file reads from that line, with the line numbers it had, when:

* the path names the same file (device, inode), at least as long as what was read;
* the bytes read then are the bytes there now (a CRC-32 of all of them: a log rewritten in
  place, truncated and written again past its old length, is read from its start);
* the code that reads it is the same (the parser modules' sizes and times);
* a parser that starts reading at that line is, where the earlier read stopped, in exactly the
  state the whole read was in (`LogParser.state_digest`): every run it holds, the run each
  command is in, autorestic's session, the malformed lines of the runs it may report.  Two
  parsers in the same state read what follows the same way, so the result (records, line
  numbers, run identities, times, exit code, ``.prom``) is the whole read's.

If any of these fails, the log is read from its start, as if there were no resume point.  The
one difference a resumed read makes: malformed lines before the resume point were reported as
warnings by the parse that read them and are not again (the warnings list the first ten from
where the reading started).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import parsers
from exporter.errors import ExporterError, LogNotUnderstood, LogUnreadable
from exporter.fast_scan import BLOCK_BYTES, LineSelector, scan
from exporter.logsource import MAX_LINE_BYTES, JournalSource, LogSource, open_log
from exporter.run_memory import ResumePoint, read_resume_point
from parsers.log import LogParser, ParsedLog


@dataclass(frozen=True)
class LogReading:
    parsed: ParsedLog | None
    """None when the log could not be read or had a malformed restic line."""
    problem: ExporterError | None
    """Why the log was not fully understood."""
    written_timestamp_seconds: float | None
    warnings: tuple[str, ...] = ()
    line_error: bool = False
    """The problem is a malformed line in a run that is reported."""
    line_time: Callable[[int], float | None] | None = None
    """When each line was written, by its number, where the source says (the journal)."""
    resume: ResumePoint | None = None
    """Where the next read of this log may start (see the module's docstring)."""
    read_from: int = 0
    """The byte offset the reading started at: 0, or where a resume point said."""


def read_log(log: str, resume_for: Path | None = None) -> LogReading:
    """Stream `log` through the parser; every problem becomes part of the reading.
    `resume_for`: the ``.prom`` file the reading is for, whose run memory may hold where to
    start reading `log` (a regular file) and will hold `LogReading.resume`."""
    try:
        source = open_log(log)
    except LogUnreadable as error:
        return LogReading(None, error, None)
    parser = LogParser()
    resume = None
    skipped_long_lines = read_from = 0
    try:
        if resume_for is not None and _is_regular_file(source):
            saved = read_resume_point(resume_for)
            parser, skipped_long_lines, resume, read_from = _read_resuming(source, log, saved)
        elif type(source) is LogSource:
            scan(source, parser)
            skipped_long_lines = source.skipped_long_lines
        else:  # journalctl's output: its exit status is checked after its lines
            for line in source.lines():
                parser.feed(line)
            skipped_long_lines = source.skipped_long_lines
        written_at = source.written_timestamp_seconds()
    except (LogUnreadable, LogNotUnderstood) as error:  # unreadable, or past the size bound
        return LogReading(None, error, None)
    finally:
        source.close()
    reading = reading_of(parser, source.name, skipped_long_lines, written_at)
    if isinstance(source, JournalSource):
        reading = dataclasses.replace(reading, line_time=source.line_time)
    return dataclasses.replace(reading, resume=resume, read_from=read_from)


def _is_regular_file(source: LogSource) -> bool:
    if type(source) is not LogSource or source.is_stdin:
        return False
    try:
        return stat.S_ISREG(os.fstat(source.stream.fileno()).st_mode)
    except OSError:
        return False


class _NotTheSame(Exception):
    """A resumed read is not in the state the whole read was in: read from the start."""


@dataclass
class _TrackedSource(LogSource):
    """A log file read by `scan` from `start` (a line's first byte, whose number is `line`),
    up to `end` when one is set: a resumed read stops at the old end, to check the parser's
    state there, then goes on with the same `selection`."""

    start: int = 0
    line: int = 1
    end: int | None = None
    selection: LineSelector = field(default_factory=lambda: LineSelector(LogParser()))

    def __post_init__(self) -> None:
        self.bytes_read = self.start  # the file offset of what `read_block` reads next

    @property
    def parser(self) -> LogParser:
        return self.selection.parser

    def read_block(self, size: int) -> bytes:
        if self.end is not None:
            size = min(size, self.end - self.bytes_read)
            if size <= 0:
                return b""
        return super().read_block(size)

    def scan(self) -> None:
        scan(self, self.parser, self.selection)


def _read_resuming(
    source: LogSource, log: str, saved: ResumePoint | None
) -> tuple[LogParser, int, ResumePoint | None, int]:
    """Read a regular file from `saved` if it holds for it, else from its start.  The parser,
    the long lines skipped in the whole file, where the next read may start, and the offset
    this one started at."""
    descriptor = source.stream.fileno()
    before = os.fstat(descriptor)
    path = os.path.abspath(log)
    code = _parser_code()
    if saved is not None and (saved.log, saved.device, saved.inode, saved.code) == (
        path,
        before.st_dev,
        before.st_ino,
        code,
    ):
        resumed = _resumed(source, saved, before.st_size)
        if resumed is not None:
            tracked, skipped_before = resumed
            point = _resume_point(tracked, path, code, before, skipped_before, saved)
            skipped = skipped_before + tracked.skipped_long_lines
            return tracked.parser, skipped, point, saved.line_offset
    source.stream.seek(0)
    tracked = _TrackedSource(source.name, source.stream, max_bytes=source.max_bytes)
    tracked.scan()
    point = _resume_point(tracked, path, code, before, 0, None)
    return tracked.parser, tracked.skipped_long_lines, point, 0


def _resumed(source: LogSource, saved: ResumePoint, size: int) -> tuple[_TrackedSource, int] | None:
    """The log read from `saved`, with the long lines skipped before it; None when the log
    is not the one `saved` was taken of, or the parser turns out not in the same state."""
    try:
        if size < saved.size or _crc32(source.stream.fileno(), 0, saved.size) != saved.prefix_crc32:
            return None
    except OSError:  # read it from the start, which says what is wrong with it
        return None
    tracked = _TrackedSource(
        source.name,
        source.stream,
        max_bytes=source.max_bytes,
        start=saved.line_offset,
        line=saved.line,
        end=saved.size,
    )
    tracked.parser.lines = saved.line - 1
    try:
        source.stream.seek(saved.line_offset)
        # To the old end, a line's end (a point is only made where the log ends with a
        # newline): reading on from there in a second `scan` is reading on in the first.
        tracked.scan()
        if tracked.bytes_read != saved.size or _digest(tracked.parser) != saved.state:
            return None  # shorter than it was, or the parser is not where the whole read was
        skipped_at_check = tracked.skipped_long_lines
        tracked.end = None
        tracked.scan()
    except (_NotTheSame, OSError):
        return None
    skipped_before = saved.skipped_long_lines - skipped_at_check
    if not 0 <= skipped_before <= saved.line_offset // (MAX_LINE_BYTES + 1):
        return None  # more long lines than fit before the offset: not a point we made
    return tracked, skipped_before


def _resume_point(
    tracked: _TrackedSource,
    path: str,
    code: str,
    before: os.stat_result,
    skipped_before: int,
    saved: ResumePoint | None,
) -> ResumePoint | None:
    """Where the next read may start; None when the log changed while it was read, does
    not end with a newline (a line still being written), or the oldest run starts at the top."""
    descriptor = tracked.stream.fileno()
    size = tracked.bytes_read
    parser = tracked.parser
    try:
        after = os.fstat(descriptor)
        if _version(after) != _version(before) or after.st_size != size or size == 0:
            return None
        if os.pread(descriptor, 1, size - 1) != b"\n":
            return None
        line = parser.oldest_kept_line or parser.lines + 1
        offset = _line_offset(descriptor, tracked.start, tracked.line, line, size)
        if not offset:
            return None
        state = _digest(parser)
        if saved is not None:  # the bytes up to `saved.size` were checked against its CRC
            crc = _crc32(descriptor, saved.size, size, saved.prefix_crc32)
        else:
            crc = _crc32(descriptor, 0, size)
    except (OSError, _NotTheSame):
        return None
    return ResumePoint(
        log=path,
        device=after.st_dev,
        inode=after.st_ino,
        size=size,
        prefix_crc32=crc,
        line_offset=offset,
        line=line,
        skipped_long_lines=skipped_before + tracked.skipped_long_lines,
        state=state,
        code=code,
    )


def _version(status: os.stat_result) -> tuple[int, ...]:
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


def _digest(parser: LogParser) -> str:
    try:
        return parser.state_digest()
    except TypeError:  # a state it cannot spell out: equal to nothing
        raise _NotTheSame from None


def _line_offset(descriptor: int, start: int, first: int, line: int, end: int) -> int | None:
    """The byte offset of line `line`, counting newlines from `start`, the offset of line
    `first`; None when the file ends before it (a resumed read that started at a wrong offset
    would fail its check anyway: an offset is never trusted unchecked)."""
    offset, newlines = start, line - first  # to pass from `start`
    while newlines > 0 and offset < end:
        block = os.pread(descriptor, min(BLOCK_BYTES, end - offset), offset)
        if not block:
            return None
        count = block.count(b"\n")
        if count >= newlines:
            rest = block.split(b"\n", newlines)[-1]
            return offset + len(block) - len(rest)
        newlines -= count
        offset += len(block)
    return offset if newlines == 0 else None


def _crc32(descriptor: int, start: int, end: int, crc: int = 0) -> int:
    """CRC-32 of the bytes from `start` to `end`, continuing `crc`.  Raises OSError."""
    while start < end:
        block = os.pread(descriptor, min(BLOCK_BYTES, end - start), start)
        if not block:
            raise OSError(f"the file ended at {start} bytes, before {end}")
        crc = zlib.crc32(block, crc)
        start += len(block)
    return crc


def _parser_code() -> str:
    """Which code reads logs: the size and time of each file of the parsers and the block
    reader (an upgrade or an edit makes earlier resume points useless, never wrong)."""
    files = sorted(Path(parsers.__file__).parent.glob("*.py"))
    files += [Path(__file__).with_name(name) for name in ("fast_scan.py", "prefilter.py")]
    identity = []
    for file in files:
        try:
            status = file.stat()
        except OSError:
            continue
        identity.append(f"{file.name}:{status.st_size}:{status.st_mtime_ns}")
    return hashlib.blake2b("\n".join(identity).encode(), digest_size=8).hexdigest()


def reading_of(
    parser: LogParser,
    name: str,
    skipped_long_lines: int,
    written_at: float | None,
    live: bool = False,
) -> LogReading:
    """What a parser that has read a log makes of it.  `live` (watch mode): a backup still
    running is no problem."""
    warnings: list[str] = []
    if skipped_long_lines:
        warnings.append(f"skipped {skipped_long_lines} line(s) longer than 1 MiB in {name}")
    parsed = parser.result()
    # A malformed line in an older run costs a warning; in a run that is reported, exit 4.
    reported_from = parser.oldest_reported_line
    problem: LogNotUnderstood | None = None
    line_error_in_reported_run = False
    for line_error in parser.line_errors:
        if line_error.line_number < reported_from:
            warnings.append(f"{name}: {line_error} (in an earlier run: ignored)")
        elif problem is None:
            problem = LogNotUnderstood(f"{name}: {line_error}")
            line_error_in_reported_run = True
    if problem is None:
        problem = _problem(parsed, name, parser.lines == 0 and not skipped_long_lines, live)
    return LogReading(parsed, problem, written_at, tuple(warnings), line_error_in_reported_run)


def _problem(parsed: ParsedLog, name: str, empty: bool, live: bool) -> LogNotUnderstood | None:
    if empty:
        return LogNotUnderstood(
            f"{name} is empty (restic --quiet prints no summary unless --json is given)"
        )
    if not parsed.autorestic and not parsed.sections[0].commands:
        return LogNotUnderstood(f"{name}: no restic output found in {parsed.lines} line(s)")
    for section in parsed.sections:
        if (
            section.autorestic_backup
            and section.backup is None
            and not section.autorestic_finished
            and not section.autorestic_failed
        ):
            return LogNotUnderstood(
                f"{name}: the log ends before autorestic finished backing up "
                f"{section.location}@{section.backend} (cut off, or autorestic was killed)"
            )
        for command, run in section.commands.items():
            if not run.complete and not (live and command == "backup"):
                where = f" ({section.location}@{section.backend})" if section.location else ""
                return LogNotUnderstood(
                    f"{name}: the log ends before the {command} run that starts at line "
                    f"{run.first_line} finished{where} (cut off, or restic was killed)"
                )
    return None
