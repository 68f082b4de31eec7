"""The Linux isolation layers, through ctypes: namespaces, no_new_privs, rlimits, Landlock, seccomp.

Every function here runs inside a worker (never in the caller's process) and
returns ``None`` when the layer is in force or a short reason when the kernel
refused it, so that :meth:`Sandbox.isolation` reports what was achieved and
never claims a layer that is absent.

Why ctypes and not a binding: the seccomp bindings on the registry are either
libseccomp's own (needs the C library's headers to build) or wrappers last
released years ago, and the Landlock ones are pre-releases. The filter below is
fifty lines of classic BPF and three Landlock system calls.
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
import struct
from collections.abc import Iterable

__all__ = [
    "ARCH",
    "apply_rlimits",
    "landlock",
    "landlock_abi",
    "no_new_privs",
    "seccomp",
    "seccomp_supported",
    "threads",
    "unshare_user_net",
    "vm_size",
]

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.restype = ctypes.c_int
_libc.unshare.restype = ctypes.c_int

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
CLONE_THREAD = 0x00010000
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_SET_PDEATHSIG = 1

# Per architecture: the audit arch of seccomp_data, the syscall numbers we use and refuse.
_TABLES: dict[str, dict[str, int]] = {
    "x86_64": {
        "audit": 0xC000003E, "seccomp": 317, "landlock_create_ruleset": 444,
        "landlock_add_rule": 445, "landlock_restrict_self": 446,
        "socket": 41, "connect": 42, "execve": 59, "execveat": 322, "ptrace": 101,
        "process_vm_readv": 310, "process_vm_writev": 311, "pidfd_getfd": 438,
        "fork": 57, "vfork": 58, "clone": 56, "clone3": 435, "unshare": 272, "setns": 308,
        "mount": 165, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "keyctl": 250,
        "add_key": 248, "request_key": 249, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "pidfd_open": 434,
    },
    "aarch64": {
        "audit": 0xC00000B7, "seccomp": 277, "landlock_create_ruleset": 444,
        "landlock_add_rule": 445, "landlock_restrict_self": 446,
        "socket": 198, "connect": 203, "execve": 221, "execveat": 281, "ptrace": 117,
        "process_vm_readv": 270, "process_vm_writev": 271, "pidfd_getfd": 438,
        "clone": 220, "clone3": 435, "unshare": 97, "setns": 268, "mount": 40, "bpf": 280,
        "perf_event_open": 241, "userfaultfd": 282, "keyctl": 219, "add_key": 217,
        "request_key": 218, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "pidfd_open": 434,
    },
}  # fmt: skip
ARCH = platform.machine()
_SYS = _TABLES.get(ARCH, {})

# Acts of an exploited worker: the process is killed (SIGSYS), the caller told.
KILLED_CALLS = ("socket", "connect", "execve", "execveat", "ptrace", "process_vm_readv",
                "process_vm_writev", "pidfd_getfd")  # fmt: skip
# Kernel attack surface and process creation: refused with EPERM (libraries that probe survive).
REFUSED_CALLS = ("fork", "vfork", "unshare", "setns", "mount", "bpf", "perf_event_open",
                 "userfaultfd", "keyctl", "add_key", "request_key", "io_uring_setup",
                 "io_uring_enter", "io_uring_register", "pidfd_open")  # fmt: skip


def _errno_reason(what: str) -> str:
    err = ctypes.get_errno()
    return f"{what} failed: {os.strerror(err)} (errno {err})"


def threads() -> int:
    """Number of threads of this process (from ``/proc/self/status``)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def vm_size() -> int:
    """This process's address-space size in bytes (``VmSize``), 0 when unknown."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def keep_heap() -> None:
    """Let glibc's malloc keep freed memory (a worker decodes the same sizes again and again).

    Without this, every decoded image's buffers are fresh ``mmap``s whose pages fault
    in one by one; RLIMIT_AS still caps what is kept.
    """
    try:
        _libc.mallopt(-3, 64 << 20)  # M_MMAP_THRESHOLD
        _libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD
    except AttributeError:  # not glibc
        pass


def parent_death_signal() -> None:
    """Die with SIGKILL when the parent dies (no orphaned workers)."""
    _libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)


def unshare_user_net(network: bool) -> tuple[str | None, str | None]:
    """Enter a new user namespace and (unless ``network``) a new network namespace.

    Must run while the process is single-threaded. Returns the reasons the user
    and network namespaces are absent (``None`` for each one in force).
    """
    if threads() > 1:
        reason = "the worker already had threads; unshare(CLONE_NEWUSER) needs a single thread"
        return reason, reason
    flags = CLONE_NEWUSER | (0 if network else CLONE_NEWNET)
    if _libc.unshare(flags) == 0:
        return None, None if not network else "network=True: the worker shares the host network"
    first = _errno_reason("unshare(CLONE_NEWUSER|CLONE_NEWNET)")
    if network:
        return first, "network=True: the worker shares the host network"
    # A kernel that allows network namespaces only to privileged users: try it alone.
    if _libc.unshare(CLONE_NEWNET) == 0:
        return first, None
    return first, _errno_reason("unshare(CLONE_NEWNET)")


def no_new_privs() -> str | None:
    """Set ``PR_SET_NO_NEW_PRIVS``: no set-uid, file capabilities or LSM transitions on exec."""
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return _errno_reason("prctl(PR_SET_NO_NEW_PRIVS)")
    return None if _libc.prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 else "no_new_privs did not stick"


# -- Landlock -------------------------------------------------------------------------------
_LL_EXECUTE, _LL_WRITE_FILE, _LL_READ_FILE, _LL_READ_DIR = 1, 2, 4, 8
_LL_TRUNCATE, _LL_IOCTL_DEV = 1 << 14, 1 << 15
_LL_FILE_RIGHTS = _LL_EXECUTE | _LL_WRITE_FILE | _LL_READ_FILE | _LL_TRUNCATE | _LL_IOCTL_DEV
_LL_NET_BIND_TCP, _LL_NET_CONNECT_TCP = 1, 2
_LL_SCOPE_ABSTRACT_UNIX, _LL_SCOPE_SIGNAL = 1, 2


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_abi() -> int:
    """The kernel's Landlock ABI version (0 when Landlock is absent or disabled)."""
    if "landlock_create_ruleset" not in _SYS:
        return 0
    version = _libc.syscall(_SYS["landlock_create_ruleset"], None, 0, 1)
    return int(version) if version > 0 else 0


def _fs_rights(abi: int) -> int:
    rights = (1 << 13) - 1  # ABI 1: execute ... make_sym
    if abi >= 2:
        rights |= 1 << 13  # refer
    if abi >= 3:
        rights |= _LL_TRUNCATE
    if abi >= 5:
        rights |= _LL_IOCTL_DEV
    return rights


def landlock(read: Iterable[str], write: Iterable[str], network: bool) -> tuple[str | None, int]:
    """Restrict this process (and the threads it starts later) to reading ``read``, writing ``write``.

    Also refuses TCP bind/connect (ABI >= 4, unless ``network``), signals to and
    abstract sockets of processes outside the sandbox (ABI >= 6). Returns
    ``(reason or None, abi)``. Threads that already exist are not restricted,
    which is why workers call this first, while single-threaded.
    """
    abi = landlock_abi()
    if abi < 1:
        err = os.strerror(ctypes.get_errno())
        return f"Landlock is not available in this kernel (landlock_create_ruleset: {err})", 0
    handled = _fs_rights(abi)
    attr = _RulesetAttr(handled, 0, 0)
    size = 8
    if abi >= 4 and not network:
        attr.handled_access_net = _LL_NET_BIND_TCP | _LL_NET_CONNECT_TCP
        size = 16
    if abi >= 6:
        attr.scoped = _LL_SCOPE_ABSTRACT_UNIX | _LL_SCOPE_SIGNAL
        size = 24
    fd = _libc.syscall(_SYS["landlock_create_ruleset"], ctypes.byref(attr), size, 0)
    if fd < 0:
        return _errno_reason("landlock_create_ruleset"), abi
    try:
        read_rights = _LL_READ_FILE | _LL_READ_DIR
        write_rights = handled & ~_LL_EXECUTE & ~_LL_IOCTL_DEV
        rules = [(p, read_rights) for p in read] + [(p, write_rights) for p in write]
        for path, rights in rules:
            try:
                pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # a path that does not exist grants nothing
            try:
                if not os.path.isdir(path):
                    rights &= _LL_FILE_RIGHTS
                rule = _PathBeneath(rights & handled, pfd)
                if _libc.syscall(_SYS["landlock_add_rule"], fd, 1, ctypes.byref(rule), 0) != 0:
                    return _errno_reason(f"landlock_add_rule({path!r})"), abi
            finally:
                os.close(pfd)
        if _libc.syscall(_SYS["landlock_restrict_self"], fd, 0) != 0:
            return _errno_reason("landlock_restrict_self"), abi
    finally:
        os.close(fd)
    return None, abi


# -- seccomp --------------------------------------------------------------------------------
_BPF_LD_W_ABS, _BPF_JEQ, _BPF_JGE, _BPF_JSET, _BPF_RET = 0x20, 0x15, 0x35, 0x45, 0x06
_RET_KILL_PROCESS, _RET_ERRNO, _RET_ALLOW = 0x80000000, 0x00050000, 0x7FFF0000
_EPERM, _ENOSYS = 1, 38


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _ins(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def seccomp_supported() -> str | None:
    """``None`` when a seccomp filter can be built here, else the reason."""
    if not _SYS:
        return f"no seccomp syscall table for architecture {ARCH!r}"
    if not os.path.exists("/proc/sys/kernel/seccomp/actions_avail"):
        return "the kernel has no seccomp filter support (/proc/sys/kernel/seccomp absent)"
    return None


def _program(network: bool) -> bytes:
    prog = [_ins(_BPF_LD_W_ABS, 4), _ins(_BPF_JEQ, _SYS["audit"], 1, 0), _ins(_BPF_RET, _RET_KILL_PROCESS)]
    prog.append(_ins(_BPF_LD_W_ABS, 0))
    if ARCH == "x86_64":  # the x32 ABI: a second syscall table the numbers below do not cover
        prog += [_ins(_BPF_JGE, 0x40000000, 0, 1), _ins(_BPF_RET, _RET_KILL_PROCESS)]
    rules = [(n, _RET_KILL_PROCESS) for n in KILLED_CALLS if not (network and n in ("socket", "connect"))]
    rules += [(n, _RET_ERRNO | _EPERM) for n in REFUSED_CALLS]
    rules.append(("clone3", _RET_ERRNO | _ENOSYS))  # glibc then falls back to clone(), checked below
    for name, action in rules:
        if name in _SYS:
            prog += [_ins(_BPF_JEQ, _SYS[name], 0, 1), _ins(_BPF_RET, action)]
    # clone(): threads (CLONE_THREAD) yes, new processes no.
    prog += [
        _ins(_BPF_JEQ, _SYS["clone"], 0, 3),
        _ins(_BPF_LD_W_ABS, 16),  # low 32 bits of args[0] (flags)
        _ins(_BPF_JSET, CLONE_THREAD, 1, 0),
        _ins(_BPF_RET, _RET_ERRNO | _EPERM),
        _ins(_BPF_RET, _RET_ALLOW),
    ]
    return b"".join(prog)


def seccomp(network: bool) -> str | None:
    """Install the filter on every thread of this process (TSYNC). ``no_new_privs`` must be set."""
    reason = seccomp_supported()
    if reason:
        return reason
    code = _program(network)
    buf = ctypes.create_string_buffer(code, len(code))
    prog = _SockFprog(len(code) // 8, ctypes.cast(buf, ctypes.c_void_p))
    # SECCOMP_SET_MODE_FILTER = 1, SECCOMP_FILTER_FLAG_TSYNC = 1
    rc = _libc.syscall(_SYS["seccomp"], 1, 1, ctypes.byref(prog))
    if rc != 0:
        return _errno_reason("seccomp(SECCOMP_SET_MODE_FILTER)") if rc < 0 else f"thread {rc} could not sync"
    return None


# -- resource limits ----------------------------------------------------------------------
def apply_rlimits(
    *, address_space: int, cpu_soft: int, cpu_hard: int, open_files: int, processes: int | None
) -> str | None:
    """Set AS, CPU, NOFILE, CORE=0, FSIZE=0 and (when given) NPROC; only ever lowering them."""

    def lower(which: int, soft: int, hard: int) -> None:
        __, old_hard = resource.getrlimit(which)
        if old_hard != resource.RLIM_INFINITY:
            hard = min(hard, old_hard)
        soft = min(soft, hard)
        resource.setrlimit(which, (soft, hard))

    try:
        lower(resource.RLIMIT_CORE, 0, 0)
        lower(resource.RLIMIT_FSIZE, 0, 0)
        lower(resource.RLIMIT_NOFILE, open_files, open_files)
        lower(resource.RLIMIT_CPU, cpu_soft, cpu_hard)
        if processes is not None:
            lower(resource.RLIMIT_NPROC, processes, processes)
        lower(resource.RLIMIT_AS, address_space, address_space)
    except (OSError, ValueError) as exc:
        return f"setrlimit failed: {exc}"
    return None
