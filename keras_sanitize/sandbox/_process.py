"""The caller's side of one zygote and its workers: start, talk, kill, classify deaths."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from keras_sanitize.findings import Action, Finding, Severity
from keras_sanitize.sandbox import _codec as codec
from keras_sanitize.sandbox._worker import BOOT, ENV_KEEP, SINGLE_THREAD_ENV

__all__ = ["Died", "StartFailed", "Worker", "Zygote", "death_finding"]

_DOWN_START = 1 << 20
_UP_START = 4 << 20


class Died(Exception):
    """The worker died, hung, or broke the protocol during a task; ``.finding`` says which."""

    def __init__(self, kind: str, detail: dict[str, Any]) -> None:
        super().__init__(kind)
        self.kind = kind
        self.detail = detail


class StartFailed(Exception):
    """A worker could not start (a model that does not load); ``.msg`` is its message."""

    def __init__(self, message: str, kind: str = "", report: Any = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.report = report


def _sys_path() -> list[str]:
    """The caller's import path, plus the folder keras_sanitize itself lives in: an editable
    install finds the package through an import hook, not through ``sys.path``, and Landlock lets
    a worker read only what this list (and ``read_paths``) names."""
    cwd = os.getcwd()
    paths = [os.path.abspath(p) if p else cwd for p in sys.path]
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../keras_sanitize
    root = os.path.dirname(package)
    return paths if root in paths else [*paths, root]


class Zygote:
    """A clean, single-threaded template process that forks the workers."""

    def __init__(self) -> None:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {k: v for k, v in os.environ.items() if k in ENV_KEEP}
        env.update(SINGLE_THREAD_ENV)
        env.setdefault("LANG", "C.UTF-8")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-E", "-s", "-c", BOOT, json.dumps(_sys_path()), str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
        finally:
            theirs.close()
        self.sock = mine
        self.lock = threading.Lock()
        self.ready = False

    def _request(
        self, msg: dict[str, Any], fds: list[int] | None = None, timeout: float = 120.0
    ) -> dict[str, Any]:
        with self.lock:
            if not self.ready:
                reply = self._reply(timeout)
                if reply["op"] != "ready":
                    raise StartFailed(f"the sandbox zygote did not start: {reply}")
                self.ready = True
            try:
                codec.send(self.sock, msg, fds)
            except OSError as exc:
                raise StartFailed(f"the sandbox zygote is gone ({exc})") from None
            return self._reply(timeout)

    def _reply(self, timeout: float) -> dict[str, Any]:
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            raise StartFailed(f"the sandbox zygote did not answer within {timeout} s")
        try:
            msg, _fds = codec.recv(self.sock, 0)
        except (EOFError, OSError, codec.ProtocolError) as exc:
            raise StartFailed(f"the sandbox zygote is gone ({type(exc).__name__}); is the interpreter "
                              "able to import keras_sanitize with this sys.path?") from None  # fmt: skip
        return msg

    def fork(self, spec: dict[str, Any], fd: int) -> int:
        """Fork a worker serving on ``fd``; return its pid."""
        reply = self._request({"op": "fork", "spec": spec}, [fd])
        if reply.get("op") != "forked" or not isinstance(reply.get("pid"), int):
            raise StartFailed(f"the sandbox zygote could not fork: {reply}")
        return int(reply["pid"])

    def wait(self, pid: int) -> dict[str, Any]:
        """Reap a (killed) worker; return its signal, exit code and CPU time."""
        try:
            return self._request({"op": "wait", "pid": pid}, timeout=30.0)
        except StartFailed:
            return {"signal": None, "code": None}

    def close(self) -> None:
        """Stop the zygote (it kills and reaps any worker left)."""
        try:
            with self.lock:
                codec.send(self.sock, {"op": "exit"})
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.sock.close()


class Worker:
    """One worker process as the caller sees it."""

    def __init__(self, zygote: Zygote, spec: dict[str, Any]) -> None:
        self.zygote = zygote
        self.tmp = tempfile.mkdtemp(prefix="ks_sandbox_")
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = mine
        try:
            self.pid = zygote.fork({**spec, "tmp": self.tmp, "sys_path": _sys_path()}, theirs.fileno())
        except BaseException:
            mine.close()
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        finally:
            theirs.close()
        self.down: codec.Arena | None = None
        self.up: codec.Arena | None = None
        self.ready: dict[str, Any] | None = None
        self.known: set[str] = set()
        self.alive = True
        self.killed_by_us = False

    # -- start-up ------------------------------------------------------------------------------
    def wait_ready(self, timeout: float) -> dict[str, Any]:
        """Block until the worker reports its isolation; raise StartFailed if it cannot start."""
        if self.ready is not None:
            return self.ready
        try:
            msg = self.receive(time.monotonic() + timeout)
        except Died as exc:
            raise StartFailed(f"a sandbox worker died while starting ({exc.kind}: {exc.detail})") from None
        if msg["op"] == "failed":
            report = None
            body = msg.get("body")
            if isinstance(body, dict) and body.get("report") is not None:
                try:
                    report = codec.report_from_wire(body["report"], msg.get("bufs") or [], self.up)
                except codec.ProtocolError:
                    report = None
            raise StartFailed(str(msg.get("message", "start-up failed")), str(msg.get("type", "")), report)
        if msg["op"] != "ready" or not isinstance(msg.get("isolation"), dict):
            raise StartFailed(f"a sandbox worker sent {msg['op']!r} instead of 'ready'")
        self.ready = msg
        return msg

    # -- talking ----------------------------------------------------------------------------------
    def send_task(self, task: str, payload: Any, max_bytes: int) -> None:
        """Send one task; its buffers go through the down arena."""
        bufs: list[tuple[dict[str, Any], memoryview]] = []
        body = codec.encode(payload, bufs)
        descs, end = codec.layout(bufs)
        header = json.dumps({"op": "task", "task": task, "body": body, "bufs": descs},
                            separators=(",", ":")).encode()  # fmt: skip
        big = len(header) > codec.MAX_HEADER
        hoff = (end + 63) // 64 * 64
        total = hoff + len(header) if big else end
        names, fds, sizes = [], [], []
        if self.down is None or total > self.down.size:
            if total > max_bytes:
                raise codec.Unsupported(
                    f"an input of {total >> 20} MiB (max_transfer_mb is {max_bytes >> 20})"
                )
            size = max(_DOWN_START, 1 << (max(total, 1) - 1).bit_length())
            if self.down is not None:
                self.down.close()
            self.down = codec.Arena(size)
            names.append("down"), fds.append(self.down.fd), sizes.append(size)  # type: ignore[func-returns-value]
        if self.up is None:
            self.up = codec.Arena(_UP_START)
            names.append("up"), fds.append(self.up.fd), sizes.append(_UP_START)  # type: ignore[func-returns-value]
        codec.write(self.down, bufs, descs)
        if big:
            self.down.mm[hoff : hoff + len(header)] = header
            msg: dict[str, Any] = {"op": "big", "o": hoff, "n": len(header), "task": task}
        else:
            msg = json.loads(header)
        if names:
            msg.update(arenas=names, sizes=sizes)
        try:
            codec.send(self.sock, msg, [fd for fd in fds if fd is not None])
        except OSError as exc:
            raise Died("crashed", {"error": f"sending failed: {exc}"}) from None
        for arena in (self.down, self.up):
            if arena is not None and arena.fd is not None and names:
                arena.release_fd()

    def receive(self, deadline: float, max_bytes: int = 1 << 30) -> dict[str, Any]:
        """The next message (space requests are answered here); raise Died on death, hang or garbage."""
        while True:
            left = deadline - time.monotonic()
            try:
                r, _, _ = select.select([self.sock], [], [], max(left, 0.0))
            except (OSError, ValueError):
                raise Died("crashed", {"error": "socket closed"}) from None
            if not r:
                raise Died("timeout", {})
            try:
                msg, fds = codec.recv(self.sock, 0)
            except (EOFError, ConnectionError, OSError):
                raise Died("exited", {}) from None
            except codec.ProtocolError as exc:
                raise Died("protocol", {"error": str(exc)}) from None
            for fd in fds:
                os.close(fd)
            if msg["op"] == "space":
                self._grow(msg, max_bytes)
                continue
            if msg["op"] == "big":
                try:
                    msg = self._big(msg)
                except codec.ProtocolError as exc:
                    raise Died("protocol", {"error": str(exc)}) from None
            return msg

    def decode(self, msg: dict[str, Any]) -> Any:
        """The message's body, its buffers read from the result arena; raise Died on garbage."""
        try:
            return codec.decode(msg.get("body"), msg.get("bufs") or [], self.up)
        except codec.ProtocolError as exc:
            raise Died("protocol", {"error": str(exc)}) from None

    def _big(self, msg: dict[str, Any]) -> dict[str, Any]:
        off, n = msg.get("o"), msg.get("n")
        up = self.up
        if up is None or not (isinstance(off, int) and isinstance(n, int) and 0 <= off <= off + n <= up.size):
            raise codec.ProtocolError("big message outside the arena")
        try:
            inner = json.loads(bytes(up.mm[off : off + n]))
        except (ValueError, RecursionError):
            raise codec.ProtocolError("big message is not JSON") from None
        if not isinstance(inner, dict) or not isinstance(inner.get("op"), str) or inner["op"] == "big":
            raise codec.ProtocolError("bad big message")
        return inner

    def _grow(self, msg: dict[str, Any], max_bytes: int) -> None:
        need = msg.get("need")
        if not isinstance(need, int) or need < 0:
            raise Died("protocol", {"error": "bad space request"})
        reply: dict[str, Any] = {"op": "space"}
        fds = []
        if need > max_bytes:
            reply["refused"] = f"{need} bytes > max_transfer_mb"
        elif self.up is None or need > self.up.size:
            size = 1 << (need - 1).bit_length()
            if self.up is not None:
                self.up.close()
            self.up = codec.Arena(size)
            reply.update(arenas=["up"], sizes=[size])
            fds = [self.up.fd]
        try:
            codec.send(self.sock, reply, [fd for fd in fds if fd is not None])
        except OSError:
            raise Died("exited", {}) from None
        if self.up is not None:
            self.up.release_fd()

    def gone(self) -> bool:
        """Whether an idle worker's socket shows EOF or unexpected data (it exited or misbehaves)."""
        try:
            r, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(r)

    # -- ending ---------------------------------------------------------------------------------
    def kill(self) -> dict[str, Any]:
        """Kill (if alive), reap, and clean up; return the exit status the zygote saw."""
        if not self.alive:
            return {}
        self.alive = False
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        status = self.zygote.wait(self.pid)
        self.sock.close()
        for arena in (self.down, self.up):
            if arena is not None:
                arena.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return status


_SIGNALS = {signal.SIGSEGV: "segmentation fault", signal.SIGBUS: "bus error", signal.SIGABRT: "abort",
            signal.SIGILL: "illegal instruction", signal.SIGFPE: "arithmetic error",
            signal.SIGKILL: "killed (the kernel's OOM killer or the CPU hard limit)"}  # fmt: skip


def death_finding(died: Died, status: dict[str, Any], limits: Any, index: int | None, what: str) -> Finding:
    """The one fatal finding for an input whose worker died, hung or misbehaved."""
    sig = status.get("signal")
    names = {int(s): s.name for s in signal.Signals}
    name = names.get(sig, str(sig)) if isinstance(sig, int) else sig
    make: Callable[..., Finding] = lambda code, message, **detail: Finding(  # noqa: E731
        code, message, Severity.HIGH, Action.REJECT, "sandbox", index, detail=detail, fatal=True
    )
    if died.kind == "timeout":
        return make("sandbox.timeout", f"{what} did not finish within timeout={limits.timeout} s (wall "
                    "clock); the worker was killed and replaced. Raise timeout if inputs this slow are "
                    "legitimate.", timeout=limits.timeout)  # fmt: skip
    if sig == signal.SIGXCPU:
        return make("sandbox.timeout", f"{what} used more than cpu_seconds={limits.cpu_seconds} s of CPU; "
                    "the worker was stopped (SIGXCPU) and replaced. Raise cpu_seconds if inputs this "
                    "costly are legitimate.", cpu_seconds=limits.cpu_seconds, signal="SIGXCPU")  # fmt: skip
    if sig == signal.SIGSYS:
        return make("sandbox.forbidden_syscall", f"{what} made a system call the sandbox forbids after "
                    "start-up (socket, connect, execve, ptrace, ...): the seccomp filter killed the worker "
                    "(SIGSYS). Stages must not reach the network or run programs; an exploited decoder "
                    "would.", signal="SIGSYS")  # fmt: skip
    if died.kind == "protocol":
        return make("sandbox.protocol_error", f"the worker handling {what} sent a malformed answer "
                    f"({died.detail.get('error')}); it was killed and the input refused.",
                    error=str(died.detail.get("error")))  # fmt: skip
    if isinstance(sig, int):
        why = _SIGNALS.get(signal.Signals(sig), "signal") if sig in names else "signal"
        return make("sandbox.crashed", f"the worker handling {what} died from signal {name} ({why}); the "
                    "input was refused and the worker replaced. A decoder or stage crashed on this input: "
                    "keep it out, and report the crash if the input is benign.", signal=name)  # fmt: skip
    code = status.get("code")
    return make("sandbox.crashed", f"the worker handling {what} exited (exit code {code}) without "
                "answering; the input was refused and the worker replaced.", exit_code=code)  # fmt: skip
