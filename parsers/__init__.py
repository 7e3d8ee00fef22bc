"""Pure parsers: restic's output in, frozen records out.

Nothing here opens a file, reads a clock or imports from ``exporter``: "now", a log's mtime and
restic's exit code are the exporter's business.
"""

from parsers.backup_log import BackupLogParser, parse_backup_log
from parsers.records import BackupLog, BackupRun, LineError

__all__ = ["BackupLog", "BackupLogParser", "BackupRun", "LineError", "parse_backup_log"]
