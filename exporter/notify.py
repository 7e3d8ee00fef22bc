"""Telling systemd how the daemon is (``Type=notify``): the sd_notify protocol, no dependency.

A datagram with ``READY=1``, ``RELOADING=1``, ``STOPPING=1`` or ``STATUS=...`` to the socket in
``$NOTIFY_SOCKET`` (a path, or an abstract socket when it starts with ``@``).  Without that
variable (not run by systemd) nothing is sent.
"""

from __future__ import annotations

import os
import socket


def notify(*fields: str) -> bool:
    """Send ``fields`` (e.g. ``"READY=1"``, ``"STATUS=watching 3 logs"``); True if sent."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(fields).encode())
    except OSError:
        return False
    return True
