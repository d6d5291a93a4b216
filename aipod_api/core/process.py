"""Process hygiene for `python -m aipod_api.server`: one server per port, no orphans.

granian binds every worker's listening socket with `SO_REUSEPORT` (its `src/net.rs`), so
a second server started on a port already served joins it silently and the kernel splits
the connections between the two (two databases behind one address). And its workers are
plain child processes: `kill -9` of the main process leaves them serving, re-parented to
init.

- `claim_port` runs in the main process before granian binds: a port already listening
  (any program: the bind test below does not set `SO_REUSEPORT`) or claimed by another
  aipod_api server still starting (an abstract Unix socket named after the port, Linux)
  refuses the start.
- `exit_with_parent` runs in each worker: the kernel sends it SIGTERM when its parent
  dies (`prctl(PR_SET_PDEATHSIG)`, Linux), and a watchdog thread notices a changed
  parent (any POSIX) and, if the graceful stop does not end the process, exits hard.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import signal
import socket
import sys
import threading
import time

log = logging.getLogger("aipod_api")

PARENT_ENV = "_AIPOD_SERVER_PID"  # set by the main process for its workers
PR_SET_PDEATHSIG = 1
WATCH_INTERVAL_S = 1.0
GRACE_S = 10.0


class PortInUse(Exception):
    """The port is served or claimed already; the message says by what."""


def claim_port(host: str, port: int) -> socket.socket | None:
    """Refuse a port that is taken; hold a claim on it for this process and its children.

    Returns the claim (keep it open for the server's lifetime), or None where claims are
    not available (port 0, non-Linux): the bind test still runs there."""
    claim = None
    if port and sys.platform.startswith("linux"):
        claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # Abstract namespace: released by the kernel when the last holder exits, and
            # scoped like the TCP port itself (per network namespace).
            claim.bind(f"\0aipod_api.port.{port}")
        except OSError as exc:
            claim.close()
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(
                    f"port {port} is in use by another aipod_api server on this machine "
                    "(one that is stopping may still be finishing its requests)"
                ) from None
            raise
    if port:
        try:
            _bind_test(host, port)
        except PortInUse:
            if claim is not None:
                claim.close()
            raise
    return claim


def _bind_test(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR as granian sets it (a closing server's TIME_WAIT connections do
        # not block a restart), but no SO_REUSEPORT: any listener on the port conflicts.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(f"port {port} on {host} is already in use") from None
            raise


def mark_parent() -> None:
    """In the main process, before workers start: tell them whose children they are."""
    os.environ[PARENT_ENV] = str(os.getpid())


def exit_with_parent() -> None:
    """In a worker: stop when the main process is gone (no-op outside the server)."""
    raw = os.environ.get(PARENT_ENV)
    if not raw or os.getpid() == int(raw):
        return
    parent = int(raw)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # died before the request above took effect
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="aipod-parent-watch", daemon=True).start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_INTERVAL_S)
    log.warning("the server's main process %s is gone: this worker stops", parent)
    with contextlib.suppress(OSError):
        os.kill(os.getpid(), signal.SIGTERM)  # granian's graceful stop
    time.sleep(GRACE_S)
    os._exit(1)
