"""The processes: a zygote that forks workers, and the worker loop that locks itself down.

The zygote is started with a clean environment (``python -E``), imports the
modalities once, stays single-threaded and never touches input; it forks a
worker on request. A forked worker sets up its layers in an order the kernel
allows -- user and network namespaces and Landlock while single-threaded, then
(after a model load, if any) the resource limits, no_new_privs and the seccomp
filter on every thread -- reports what it achieved, and only then serves tasks.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import signal
import socket
import sys
import tempfile
from types import MappingProxyType
from typing import Any

from keras_sanitize.sandbox import _codec as codec
from keras_sanitize.sandbox import _kernel as kernel

__all__ = ["BOOT", "ENV_KEEP", "zygote_main"]

# Environment variables a worker keeps (configuration, never credentials).
ENV_KEEP = ("KERAS_BACKEND", "JAX_PLATFORMS", "JAX_ENABLE_X64", "CUDA_VISIBLE_DEVICES",
            "TF_CPP_MIN_LOG_LEVEL", "LANG", "LC_ALL")  # fmt: skip
SINGLE_THREAD_ENV = MappingProxyType(
    {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
)
BOOT = (
    "import sys, json; sys.path[:] = json.loads(sys.argv[1]); sys.dont_write_bytecode = True\n"
    "from keras_sanitize.sandbox._worker import zygote_main; zygote_main(int(sys.argv[2]))"
)
_CPU_BUDGET = 600  # CPU seconds a worker may use in its life; it retires before reaching them


def _preload() -> None:
    """Import what workers use, once, in the zygote (forked workers share it)."""
    from keras_sanitize.registry import registered_stages

    registered_stages()  # imports every built-in modality
    try:
        from PIL import Image

        Image.init()
    except ImportError:
        pass
    try:
        from keras_sanitize.sniff import sniff_mime

        sniff_mime(b"\x00\x01not a known type\x02" * 4)
    except Exception:
        pass


def zygote_main(ctl_fd: int) -> None:
    """Serve fork requests from the caller until it closes the control socket."""
    ctl = socket.socket(fileno=ctl_fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _preload()
    codec.send(ctl, {"op": "ready"})
    children: set[int] = set()
    while True:
        try:
            msg, fds = codec.recv(ctl, 1)
        except (EOFError, OSError, codec.ProtocolError):
            break
        op = msg["op"]
        if op == "fork" and len(fds) == 1:
            pid = os.fork()
            if pid == 0:
                code = 70
                try:
                    ctl.close()
                    code = _worker_main(fds[0], msg["spec"])
                finally:
                    os._exit(code)
            os.close(fds[0])
            children.add(pid)
            codec.send(ctl, {"op": "forked", "pid": pid})
        elif op == "wait" and msg.get("pid") in children:
            pid = int(msg["pid"])
            _, status, usage = os.wait4(pid, 0)
            children.discard(pid)
            reply: dict[str, Any] = {"op": "status", "signal": None, "code": None}
            if os.WIFSIGNALED(status):
                reply["signal"] = os.WTERMSIG(status)
            elif os.WIFEXITED(status):
                reply["code"] = os.WEXITSTATUS(status)
            reply.update(cpu=usage.ru_utime + usage.ru_stime, maxrss_kb=usage.ru_maxrss)
            codec.send(ctl, reply)
        elif op == "exit":
            break
        else:
            for fd in fds:
                os.close(fd)
            codec.send(ctl, {"op": "error", "message": f"unknown request {op!r}"})
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except OSError:
            pass


# -- the worker --------------------------------------------------------------------------------
def _readable(spec: dict[str, Any]) -> list[str]:
    """What the worker may read: the Python runtime, the import path, system libraries, read_paths."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable)),
             "/usr", "/lib", "/lib64", "/lib32", "/etc/ld.so.cache", "/etc/localtime",
             "/dev/null", "/dev/zero", "/dev/urandom", "/sys/devices/system/cpu", "/sys/fs/cgroup",
             "/proc/cpuinfo", "/proc/meminfo", os.path.realpath("/proc/self")}  # fmt: skip
    paths.update(p for p in spec.get("sys_path", []) if p)
    paths.update(spec.get("read_paths", []))
    return sorted(paths)


def _isolate(sock_fd: int, spec: dict[str, Any]) -> tuple[dict[str, bool], dict[str, str]]:
    """The single-threaded part: fds, environment, temp dir, namespaces, Landlock."""
    kernel.parent_death_signal()
    os.closerange(3, sock_fd)
    os.closerange(sock_fd + 1, 1 << 16)
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    tmp = spec["tmp"]
    keep = {k: v for k, v in os.environ.items() if k in ENV_KEEP or k in SINGLE_THREAD_ENV}
    os.environ.clear()
    os.environ.update(keep, TMPDIR=tmp, HOME=tmp)
    tempfile.tempdir = tmp
    os.chdir(tmp)
    notes: dict[str, str] = {}
    iso = {"process": True}
    allowed = {*ENV_KEEP, *SINGLE_THREAD_ENV, "TMPDIR", "HOME"}
    iso["clean_env"] = all(k in allowed for k in os.environ)
    iso["private_tmp"] = os.getcwd() == tmp and tempfile.gettempdir() == tmp
    user, net = kernel.unshare_user_net(bool(spec["network"]))
    iso["user_namespace"], iso["network_namespace"] = user is None, net is None
    for name, reason in (("user_namespace", user), ("network_namespace", net)):
        if reason:
            notes[name] = reason
    nnp = kernel.no_new_privs()
    iso["no_new_privs"] = nnp is None
    if nnp:
        notes["no_new_privs"] = nnp
    reason, abi = kernel.landlock(_readable(spec), [tmp], bool(spec["network"]))
    iso["landlock"] = reason is None
    if reason:
        notes["landlock"] = reason
    else:
        notes["landlock_abi"] = str(abi)
    return iso, notes


def _lockdown(spec: dict[str, Any], iso: dict[str, bool], notes: dict[str, str]) -> int:
    """After start-up: resource limits and the seccomp filter. Returns the CPU hard limit."""
    limits = spec["limits"]
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past RLIMIT_FSIZE fails (EFBIG) instead
    used = _cpu_used()
    hard = math.ceil(used) + _CPU_BUDGET
    address_space = kernel.vm_size() + int(limits["memory_mb"]) * (1 << 20)
    open_files = max(int(limits["open_files"]), len(os.listdir("/proc/self/fd")) + 16)
    processes = kernel.threads() + int(limits["threads"]) if iso["user_namespace"] else None
    reason = kernel.apply_rlimits(
        address_space=address_space,
        cpu_soft=math.ceil(used + float(limits["cpu_seconds"])),
        cpu_hard=hard,
        open_files=open_files,
        processes=processes,
    )
    iso["rlimits"] = reason is None
    notes["address_space_mb"] = str(address_space >> 20)
    if reason:
        notes["rlimits"] = reason
    elif processes is None:
        notes["rlimits"] = "RLIMIT_NPROC not set: outside a user namespace it counts all the user's processes"
    sec = kernel.seccomp(bool(spec["network"])) if iso["no_new_privs"] else "needs no_new_privs"
    iso["seccomp"] = sec is None
    if sec:
        notes["seccomp"] = sec
    return hard


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _worker_main(sock_fd: int, spec: dict[str, Any]) -> int:
    from keras_sanitize.sandbox._tasks import Server

    iso, notes = _isolate(sock_fd, spec)
    sock = socket.socket(fileno=sock_fd)
    server = Server(sock, spec)
    try:
        info = server.start()
    except BaseException as exc:  # a model that fails to load: say why, then exit
        with contextlib.suppress(Exception):
            server.send_failure(exc)
        return 3
    kernel.keep_heap()
    hard = _lockdown(spec, iso, notes)
    codec.send(sock, {"op": "ready", "isolation": iso, "notes": notes, "info": info, "pid": os.getpid()})
    cpu = float(spec["limits"]["cpu_seconds"])
    server.cpu_hard = hard
    while True:
        used = _cpu_used()
        with contextlib.suppress(OSError, ValueError):
            resource.setrlimit(resource.RLIMIT_CPU, (math.ceil(used + cpu), hard))
        if not server.serve_one():
            return 0
