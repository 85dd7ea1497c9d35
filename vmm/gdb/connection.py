"""The socket to gdb: listening on 127.0.0.1, and one connection read by a thread of its own.

The reader thread turns gdb's bytes into events (vmm.gdb.packets), acks packets while acks are
on, and queues the events for the vCPU's thread. Ctrl-C, a closed connection and a bad packet
also arrive while the guest runs, when the vCPU's thread is inside the backend: for those the
reader calls `wake` (which asks the vCPU to stop) after queuing them.
"""

from __future__ import annotations

import queue
import select
import socket
import threading
from collections.abc import Callable

from vmm.errors import VmmError
from vmm.gdb.packets import (
    Ack,
    BadChecksum,
    Event,
    Interrupt,
    Malformed,
    Nak,
    Packet,
    PacketReader,
    frame,
)
from vmm.values import Value

LOCALHOST = "127.0.0.1"
POLL_SECONDS = 0.2  # how often a wait (for gdb to connect, for a packet) looks up
MAX_RESENDS = 10  # bad checksums in a row before the connection counts as broken
FINISH_SECONDS = 2.0  # how long gdb gets to close its end after the last reply


class GdbError(VmmError):
    """The stub cannot do its job: the port cannot be listened on, the backend cannot stop."""


class Closed(Value):
    """The connection ended; `reason` says how (gdb closed it, or it failed)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


class Connection:
    """One gdb. `send` may be called from any thread; events come from `next_event`."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._events: queue.SimpleQueue[Event | Closed] = queue.SimpleQueue()
        self._send_lock = threading.Lock()
        self._acking = True
        self._last = b""
        self._wake: Callable[[], None] = lambda: None
        self._thread = threading.Thread(target=self._read, name="gdb-reader", daemon=True)

    def start(self, wake: Callable[[], None]) -> None:
        self._wake = wake
        self._thread.start()

    def send(self, payload: bytes) -> None:
        """One packet. A failure is not raised: the reader sees the connection end."""
        self._send_raw(frame(payload), remember=True)

    def stop_acking(self) -> None:
        self._acking = False

    def next_event(self, timeout: float = POLL_SECONDS) -> Event | Closed | None:
        """The next event, or None when none came within `timeout` seconds (0: don't wait)."""
        try:
            if timeout <= 0:
                return self._events.get_nowait()
            return self._events.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        with self._send_lock:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(FINISH_SECONDS)

    def finish(self) -> None:
        """Close after gdb has read the last reply and closed its end (or a short while)."""
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        if self._thread.is_alive():
            self._thread.join(FINISH_SECONDS)
        self.close()

    def _send_raw(self, data: bytes, remember: bool = False) -> None:
        with self._send_lock:
            if remember:
                self._last = data
            try:
                self._sock.sendall(data)
            except OSError:
                pass

    def _post(self, event: Event | Closed, wake: bool) -> None:
        self._events.put(event)
        if wake:
            self._wake()

    def _read(self) -> None:
        reader = PacketReader()
        bad_in_a_row = 0
        while True:
            try:
                data = self._sock.recv(4096)
            except OSError as e:
                self._post(Closed(f"the connection to gdb failed ({e.strerror or e})"), True)
                return
            if not data:
                self._post(Closed("gdb closed the connection"), True)
                return
            for event in reader.feed(data):
                kind = type(event)
                if kind is Packet:
                    bad_in_a_row = 0
                    if self._acking:
                        self._send_raw(b"+")
                    self._post(event, False)
                elif kind is BadChecksum:
                    bad_in_a_row += 1
                    if not self._acking or bad_in_a_row > MAX_RESENDS:
                        again = "" if self._acking else " (acks are off: it cannot be resent)"
                        self._post(Malformed(f"a packet with a bad checksum{again}: "
                                             f"{event.payload[:40]!r}"), True)
                        return
                    self._send_raw(b"-")
                elif kind is Nak:
                    with self._send_lock:
                        last = self._last
                    self._send_raw(last)
                elif kind is Interrupt:
                    self._post(event, True)
                elif kind is Malformed:
                    self._post(event, True)
                    return
                else:
                    assert kind is Ack


class GdbServer:
    """A listening socket for one gdb; errors (a port in use) are GdbError, said in one line."""

    def __init__(self, port: int, host: str = LOCALHOST) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            # a port left in TIME_WAIT by the last session is free; one in use is not
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(1)
        except OSError as e:
            sock.close()
            raise GdbError(f"cannot listen for gdb on {host}:{port}: "
                           f"{e.strerror or e}") from None
        self._sock: socket.socket | None = sock
        self.host = host
        self.port: int = sock.getsockname()[1]

    def accept(self, cancelled: Callable[[], bool]) -> Connection | None:
        """Wait for gdb; None when `cancelled()` turns true first. Listens no more after."""
        sock = self._sock
        if sock is None:
            return None
        try:
            while not cancelled():
                ready, _, _ = select.select([sock], [], [], POLL_SECONDS)
                if ready:
                    conn, _ = sock.accept()
                    return Connection(conn)
            return None
        finally:
            self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
