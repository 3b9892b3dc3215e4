"""A total deadline for one HTTP call, enforced by closing its socket when the time is out.

requests and urllib3 bound each socket read, never a whole answer: a server that sends its
status line and headers a byte every few seconds keeps every read short and the call alive for
as long as it likes. The chunked body reader in http.py checks the deadline between chunks, but
nothing runs between the bytes of a header line. So each call arms a timer; the connection
registers its socket with the call when it starts waiting for the answer, and the timer shuts
that socket down at the deadline, which ends the blocked read at once. The call then knows the
deadline (not the network) ended it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class CallDeadline:
    """One call's timer and the socket it may have to cut."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._sock: socket.socket | None = None
        self._done = False
        self._passed = False  # the deadline came (perhaps before there was a socket to cut)
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> CallDeadline:
        _CURRENT.call = self
        self._timer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.finish()

    def finish(self) -> None:
        """The call is over (answer read, or given up): never cut the socket after this, as
        the connection may go back to the pool and serve another call."""
        self._timer.cancel()
        with self._lock:
            self._done = True
            self._sock = None
        if getattr(_CURRENT, "call", None) is self:
            _CURRENT.call = None

    def watch(self, sock: socket.socket | None) -> None:
        """The request is sent and the answer awaited on `sock`: cut it at the deadline (at
        once, when slow connecting used the time up)."""
        with self._lock:
            if self._done:
                return
            self._sock = sock
            passed = self._passed
        if passed:
            self._cut()

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self._passed = True
        self._cut()

    def _cut(self) -> None:
        with self._lock:
            sock = self._sock
            if sock is None or self._done:
                return  # still connecting: nothing was sent, and connect has its own timeout
            self.expired = True
        with contextlib.suppress(OSError):  # already closed: nothing is waiting on it
            sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked read in the calling thread


class _Current(threading.local):
    call: CallDeadline | None = None


_CURRENT = _Current()


def _register(connection: HTTPConnection) -> None:
    call = getattr(_CURRENT, "call", None)
    if call is not None:
        call.watch(connection.sock)


class _WatchedHTTPConnection(HTTPConnection):
    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _register(self)  # sent; from here the wait for the answer is what a deadline cuts
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _register(self)
        return super().getresponse(*args, **kwargs)


class _WatchedPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter whose connections report their socket to the call's deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _WatchedPool,
            "https": _WatchedHTTPSPool,
        }
