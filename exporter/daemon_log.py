"""Logging for the daemon: one line per message on stderr, in the form journald keeps well.

Under systemd (``$JOURNAL_STREAM`` set) each line starts with its syslog priority, ``<3>`` for an
error to ``<7>`` for debug, which journald turns into the entry's priority (``SyslogLevelPrefix=``,
on by default) so that ``journalctl -p warning`` finds them.  In a terminal the lines read
``level: message``.
"""

from __future__ import annotations

import logging
import os
import sys

LOGGER = logging.getLogger("restic-textfile-exporter")

_PRIORITIES = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3}


class _JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        priority = _PRIORITIES.get(record.levelno, 3 if record.levelno > logging.ERROR else 6)
        return f"<{priority}>{record.getMessage()}"


def setup_logging(verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(_JournalFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    LOGGER.handlers[:] = [handler]
    LOGGER.setLevel(logging.DEBUG if verbose else logging.INFO)
    LOGGER.propagate = False
