"""The exporter's one exception family.  Each kind has the exit code the CLI documents.

| code | meaning                                                                          |
|------|----------------------------------------------------------------------------------|
| 0    | the log held a complete restic run; metrics written (whatever the backup's fate) |
| 2    | usage error: a bad option or --label (raised as typer.BadParameter, as click has it) |
| 3    | the log could not be read (missing, a directory, permission denied, I/O error)   |
| 4    | the log was read but held no restic run, or was cut off before the run ended     |
| 5    | the metrics file could not be written; the previous file is untouched            |
| 6    | the metrics were written, but a push to a gateway failed (after its retries)     |

With 3 and 4 the metrics file is still written, saying ``restic_exporter_parse_success 0`` and
``restic_backup_success 0``.  5 and 6 win over 3 and 4 (each problem is still printed), and 5
over 6.
"""

from __future__ import annotations


class ExporterError(Exception):
    """A problem a user can act on: printed as one line, turned into `exit_code`."""

    exit_code = 1


class LogUnreadable(ExporterError):
    exit_code = 3


class LogNotUnderstood(ExporterError):
    exit_code = 4


class OutputUnwritable(ExporterError):
    exit_code = 5


class PushFailed(OutputUnwritable):
    """A gateway could not be pushed to, after its retries; every other output was written."""

    exit_code = 6

    def __init__(self, gateway: str, message: str) -> None:
        super().__init__(message)
        self.gateway = gateway
