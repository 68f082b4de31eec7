"""Capture what C libraries print to the process's stderr (file descriptor 2) around a call.

libtiff ("_tiffReadProc: Invalid Read..."), mpg123 inside libsndfile ("Weird tag size...")
and friends write warnings straight to fd 2 for hostile files, below Python's ``sys.stderr``,
so an attacker could flood a server's logs with them. :func:`captured_stderr` points fd 2 at
a pipe for the duration of a decode call and hands back what was written:

* **thread-safe**: the redirect is shared; the first thread in installs it, the last one out
  restores the original fd 2. Each caller receives what reached fd 2 *during its own
  window*, so with overlapping windows in several threads a message can be seen by all of
  them (fd 2 is one per process; nothing tells which thread wrote a byte);
* **bounded**: the pipe is non-blocking on the writing side, so a flood is dropped once the
  pipe (64 KiB) and a ring buffer (:data:`RING_BYTES`) are full, and never blocks a decoder;
  each caller gets at most ``limit`` bytes;
* **logged at a bounded rate**: every non-empty capture goes to the ``keras_sanitize.decoders``
  logger at WARNING, at most :data:`LOG_BURST` records per :data:`LOG_WINDOW` seconds; the
  rest are counted and summarised in the next record.

Anything else the process writes to fd 2 inside a window (another thread's traceback) is
captured with it. Inside the sandbox a worker's stderr is owned by its parent instead.

Example:
    >>> import ctypes, ctypes.util
    >>> libc = ctypes.CDLL(ctypes.util.find_library("c"))
    >>> with captured_stderr("demo", log=False) as cap:
    ...     _ = libc.write(2, b"Weird tag size\\n", 15)
    >>> cap.text
    'Weird tag size'
"""

from __future__ import annotations

import fcntl
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

__all__ = ["LOG_BURST", "LOG_WINDOW", "RING_BYTES", "Captured", "captured_stderr"]

#: Bytes kept from fd 2 between reads, whatever the flood.
RING_BYTES = 1 << 16
#: At most this many decoder log records per LOG_WINDOW seconds, process-wide.
LOG_BURST = 10
LOG_WINDOW = 10.0

logger = logging.getLogger("keras_sanitize.decoders")


@dataclass
class Captured:
    """What reached fd 2 during one :func:`captured_stderr` window."""

    source: str
    text: str = ""
    dropped: int = 0  # bytes beyond the caller's limit or lost to the ring buffer
    lines: list[str] = field(default_factory=list)


class _Redirect:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.saved = -1
        self.reader = -1
        self.ring = bytearray()
        self.base = 0  # absolute offset of ring[0]
        self.total = 0  # absolute bytes received since the redirect was installed

    def install(self) -> None:
        _flush_python_stderr()
        os.fstat(2)  # OSError when fd 2 is closed: then nothing is redirected
        read, write = os.pipe()
        try:
            for fd in (read, write):
                fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
            self.saved = os.dup(2)
            os.dup2(write, 2)
        except OSError:
            os.close(read)
            if self.saved >= 0:
                os.close(self.saved)
                self.saved = -1
            raise
        finally:
            os.close(write)
        self.reader = read
        self.ring.clear()
        self.base = self.total = 0

    def restore(self) -> None:
        _flush_python_stderr()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.drain()
        os.close(self.reader)
        self.saved = self.reader = -1
        self.ring.clear()

    def drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.reader, 1 << 16)
            except BlockingIOError:
                return
            if not chunk:
                return
            self.ring += chunk
            self.total += len(chunk)
            if len(self.ring) > RING_BYTES:
                cut = len(self.ring) - RING_BYTES
                del self.ring[:cut]
                self.base += cut


_REDIRECT = _Redirect()


def _flush_python_stderr() -> None:
    with suppress(AttributeError, OSError, ValueError):
        sys.stderr.flush()


class _RateLimit:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.window_start = 0.0
        self.sent = 0
        self.suppressed = 0

    def log(self, cap: Captured) -> None:
        with self.lock:
            now = time.monotonic()
            if now - self.window_start >= LOG_WINDOW:
                self.window_start, self.sent = now, 0
            if self.sent >= LOG_BURST:
                self.suppressed += 1
                return
            self.sent += 1
            suppressed, self.suppressed = self.suppressed, 0
        more = f" ({suppressed} earlier decoder messages suppressed)" if suppressed else ""
        logger.warning("%s wrote to stderr: %r%s", cap.source, cap.text[:300], more)


_RATE = _RateLimit()


@contextmanager
def captured_stderr(source: str, *, limit: int = 4096, log: bool = True) -> Iterator[Captured]:
    """Redirect fd 2 into a pipe around the block; the result holds what was written.

    Args:
        source: who is decoding (``"libtiff via Pillow"``), for the log record.
        limit: most bytes handed back (the rest is counted in ``dropped``).
        log: send a non-empty capture to the ``keras_sanitize.decoders`` logger (rate-limited).

    If fd 2 cannot be redirected (no such descriptor, descriptors exhausted), the block
    runs unredirected and the capture stays empty.
    """
    cap = Captured(source)
    state = _REDIRECT
    try:
        with state.lock:
            if state.users == 0:
                state.install()
            state.users += 1
            state.drain()
            start = state.total
    except OSError:
        yield cap
        return
    try:
        yield cap
    finally:
        with state.lock:
            _flush_python_stderr()
            state.drain()
            begin = max(start, state.base)
            data = bytes(state.ring[begin - state.base :])
            cap.dropped = (begin - start) + max(0, len(data) - limit)
            state.users -= 1
            if state.users == 0:
                with suppress(OSError):
                    state.restore()
        text = data[:limit].decode("utf-8", "replace").strip()
        cap.text = text
        cap.lines = [line.strip() for line in text.splitlines() if line.strip()][:20]
        if log and text:
            _RATE.log(cap)
