"""``Sandbox``: a pool of warm, locked-down worker processes."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any

from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import Report
from keras_sanitize.sandbox import _codec as codec
from keras_sanitize.sandbox._group import Group as _Group
from keras_sanitize.sandbox._group import Validator as _Validator
from keras_sanitize.sandbox._group import no_worker as _no_worker
from keras_sanitize.sandbox._group import unavailable as _unavailable
from keras_sanitize.sandbox._limits import LAYERS, SandboxLimits
from keras_sanitize.sandbox._process import Died, StartFailed, Worker, Zygote, death_finding
from keras_sanitize.sandbox._tasks import memory_finding

__all__ = ["Sandbox"]

_BATCH_ITEMS = 32  # items per task in run_batch
_BATCH_BYTES = 64 << 20


class Sandbox:
    """A pool of warm worker processes that decode hostile input and run models, locked down.

    Each worker, before it touches input, enters new user and network
    namespaces (no network: only a downed loopback), restricts itself with
    Landlock (reads only the Python runtime, system libraries and
    ``read_paths``; writes only its private temporary directory), and after
    start-up applies resource limits (address space, CPU, open files, no core
    dumps, ``RLIMIT_FSIZE`` 0, threads), ``PR_SET_NO_NEW_PRIVS`` and a seccomp
    filter that kills it on ``socket``/``connect``/``execve``/``ptrace``. A layer
    the kernel refuses is reported by :meth:`isolation`, never claimed.

    Args:
        workers: worker processes per pool (pipelines share one pool; each
            :class:`SandboxedModel` gets its own, of the same size).
        memory_mb, cpu_seconds, timeout, max_tasks_per_worker: see
            :class:`SandboxLimits`.
        network: give workers the host network (default: none).
        read_paths: extra files or directories workers may read.
        require: layers that must be in force (names from :data:`LAYERS`);
            :class:`~keras_sanitize.ConfigError` at construction otherwise.
        limits: a full :class:`SandboxLimits` (instead of the four limit arguments).

    Thread-safe; a context manager; :meth:`close` stops every worker.

    Example:
        >>> import keras_sanitize as ks
        >>> with ks.sandbox.Sandbox(workers=1) as box:
        ...     box.isolation()["process"]
        True
    """

    def __init__(
        self,
        workers: int = 2,
        memory_mb: int = 1024,
        cpu_seconds: float = 10.0,
        timeout: float = 5.0,
        network: bool = False,
        read_paths: Iterable[str] = (),
        max_tasks_per_worker: int | None = None,
        require: Iterable[str] = (),
        *,
        limits: SandboxLimits | None = None,
    ) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 256:
            raise ConfigError(
                f"Sandbox: workers must be an integer in [1, 256]. Received: workers={workers!r}"
            )
        if limits is None:
            limits = SandboxLimits(memory_mb=memory_mb, cpu_seconds=cpu_seconds, timeout=timeout,
                                   max_tasks_per_worker=max_tasks_per_worker)  # fmt: skip
        elif not isinstance(limits, SandboxLimits):
            raise ConfigError(f"Sandbox: limits must be a SandboxLimits. Received: limits={limits!r}")
        if not isinstance(network, bool):
            raise ConfigError(f"Sandbox: network must be a bool. Received: network={network!r}")
        self.workers = workers
        self.limits = limits
        self.network = network
        self.read_paths = _paths("read_paths", read_paths)
        self.require = _layers(require)
        if network and "network_namespace" in self.require:
            raise ConfigError("Sandbox: network=True gives workers the host network; it cannot also "
                              "require 'network_namespace'")  # fmt: skip
        self._closed = False
        self._lock = threading.Lock()
        self._groups: dict[str, _Group] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._zygotes = [Zygote()]
        self._finalizer = weakref.finalize(self, _shutdown, self._zygotes, self._groups)
        self._pipelines = self._group("pipelines", {})
        try:
            self._pipelines.warm()
            iso = self.isolation() if self.require else {}
        except StartFailed as exc:
            self.close()
            raise ConfigError(f"Sandbox: the worker processes could not start here: {exc}") from None
        if self.require:
            missing = [layer for layer in self.require if not iso.get(layer)]
            if missing:
                notes = self.isolation_notes()
                why = "; ".join(f"{m}: {notes.get(m, 'unavailable')}" for m in missing)
                self.close()
                raise ConfigError(f"Sandbox(require={list(self.require)}): not available here: {why}")

    @property
    def _zygote(self) -> Zygote:
        return self._zygotes[-1]

    def _live_zygote(self) -> Zygote:
        """The zygote, started again if it died (killed from outside): the pool heals itself."""
        with self._lock:
            zygote = self._zygotes[-1]
            if zygote.proc.poll() is not None and not self._closed:
                zygote = Zygote()
                self._zygotes.append(zygote)
            return zygote

    # -- pools -------------------------------------------------------------------------------------
    def _spec(self, extra: Mapping[str, Any]) -> dict[str, Any]:
        limits = asdict(self.limits)
        return {"network": self.network, "read_paths": list(self.read_paths), "limits": limits, **extra}

    def _group(self, key: str, extra: Mapping[str, Any], warm: bool = False) -> _Group:
        with self._lock:
            if self._closed:
                raise ConfigError("the Sandbox is closed; create a new one")
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = _Group(self, self._spec(extra), self.workers)
        if warm:
            group.warm()
        return group

    def _drop_group(self, key: str) -> None:
        with self._lock:
            group = self._groups.pop(key, None)
        if group is not None:
            group.close()

    # -- what was achieved ---------------------------------------------------------------------------
    def isolation(self) -> dict[str, bool]:
        """The layers in force in this sandbox's workers, as achieved (not as asked).

        Keys: ``process``, ``clean_env``, ``private_tmp``, ``user_namespace``,
        ``network_namespace``, ``landlock``, ``no_new_privs``, ``rlimits``,
        ``seccomp``. :meth:`isolation_notes` says why a layer is absent.
        """
        ready = self._ready()
        iso = ready.get("isolation", {})
        return {layer: bool(iso.get(layer, False)) for layer in LAYERS}

    def isolation_notes(self) -> dict[str, str]:
        """Why each absent layer is absent, plus facts (``landlock_abi``, ``address_space_mb``)."""
        notes = self._ready().get("notes", {})
        return {str(k): str(v) for k, v in notes.items()} if isinstance(notes, dict) else {}

    def _ready(self) -> dict[str, Any]:
        group = self._pipelines
        if group.info is None:
            worker = group.acquire()
            group.release(worker)
        return group.info or {}

    def ping(self) -> float:
        """Round-trip an empty task through a worker; return the seconds it took."""
        group = self._pipelines
        worker = group.acquire()
        start = time.perf_counter()
        try:
            worker.send_task("ping", None, self._max_transfer())
            msg = worker.receive(time.monotonic() + self.limits.timeout)
        except Died:
            group.discard(worker)
            raise ConfigError("a sandbox worker died answering a ping") from None
        if msg.get("retire"):
            group.discard(worker)
        else:
            group.release(worker)
        return time.perf_counter() - start

    def validate(self, value: Any, modality: str | None = None) -> Report:
        """``ks.validate`` in a worker: the modality is sniffed there, its default pipeline run there.

        Example:
            >>> import keras_sanitize as ks
            >>> with ks.sandbox.Sandbox(workers=1) as box:
            ...     box.validate("hello").value
            'hello'
        """
        return self.validate_batch([value], modality)[0]

    def validate_batch(self, values: Iterable[Any], modality: str | None = None) -> list[Report]:
        """:meth:`validate` on each item; one report per item, in order."""
        from keras_sanitize.registry import MODALITIES

        if modality is not None and modality not in MODALITIES:
            raise ConfigError(f"validate: modality must be one of {list(MODALITIES)}. Received: {modality!r}")
        from keras_sanitize.sandbox._remote import remote_batch

        return remote_batch(self, _Validator(modality), list(values))

    def _max_transfer(self) -> int:
        return self.limits.max_transfer_mb << 20

    # -- running pipelines ------------------------------------------------------------------------------
    def _run_items(
        self, pipe: Any, values: Sequence[Any], indices: Sequence[int | None], *,
        monitor: bool = False, overrides: tuple[Mapping[str, Any], ...] = (),
    ) -> list[Report]:  # fmt: skip
        """Run ``pipe`` (an IsolatedPipeline) on the items in one worker; re-run survivors of a death."""
        reports: list[Report | None] = [None] * len(values)
        todo = list(range(len(values)))
        while todo:
            group = self._pipelines
            try:
                worker = group.acquire()
            except StartFailed as exc:
                for i in todo:
                    reports[i] = _no_worker(pipe, str(exc), indices[i])
                break
            try:
                done = self._task(worker, pipe, [values[i] for i in todo], [indices[i] for i in todo],
                                  monitor, overrides)  # fmt: skip
            except Died as died:
                status = group.discard(worker)
                got = died.detail.get("reports", [])
                for j, report in enumerate(got):
                    reports[todo[j]] = report
                k = len(got)
                if k < len(todo):
                    what = "this input" if len(values) == 1 else f"item {indices[todo[k]]}"
                    finding = death_finding(died, status, self.limits, indices[todo[k]], what)
                    index = indices[todo[k]]
                    reports[todo[k]] = Report(False, None, (finding,), {}, pipe.modality_name, index)
                todo = todo[k + 1 :]
                continue
            except BaseException:
                group.discard(worker)
                raise
            retire = done.pop()
            for j, report in enumerate(done):
                reports[todo[j]] = report
            if retire:
                group.discard(worker)
            else:
                group.release(worker)
            todo = todo[len(done) :]
        return [r for r in reports if r is not None]

    def _task(self, worker: Worker, pipe: Any, values: list[Any], indices: list[int | None],
              monitor: bool, overrides: tuple[Mapping[str, Any], ...]) -> list[Any]:  # fmt: skip
        key = pipe._key
        payload = {
            "key": key,
            "config": None if key in worker.known else pipe._config,
            "modules": pipe._modules,
            "items": values,
            "indices": indices,
            "monitor": monitor,
            "overrides": [{k: str(v) for k, v in o.items()} for o in overrides],
        }
        worker.send_task("run", payload, self._max_transfer())
        building = key not in worker.known
        worker.known.add(key)
        got: list[Any] = []
        while True:
            # A worker meeting this pipeline first builds it (imports, rule tables) under
            # start_timeout; each input then gets `timeout`.
            wait = self.limits.start_timeout if building else self.limits.timeout
            try:
                msg = worker.receive(time.monotonic() + wait, self._max_transfer())
            except Died as died:
                died.detail["reports"] = got
                raise
            if msg["op"] == "built" and building:
                building = False
                continue
            if msg["op"] == "item":
                try:
                    got.append(codec.report_from_wire(msg.get("body"), msg.get("bufs") or [], worker.up))
                except codec.ProtocolError as exc:
                    raise Died("protocol", {"error": str(exc), "reports": got}) from None
                continue
            if msg["op"] == "done":
                if msg.get("item"):
                    try:
                        got.append(codec.report_from_wire(msg.get("body"), msg.get("bufs") or [], worker.up))
                    except codec.ProtocolError as exc:
                        raise Died("protocol", {"error": str(exc), "reports": got}) from None
                if msg.get("error") == "memory":
                    memory = self.limits.memory_mb
                    refused = [Report(False, None, (memory_finding(memory, "this input", i),), {},
                                      pipe.modality_name, i) for i in indices[len(got) :]]  # fmt: skip
                    return [*got, *refused, True]
                if msg.get("error"):
                    worker.known.discard(key)
                    return [*got, *(_unavailable(pipe, msg["error"], i) for i in indices[len(got) :]), False]
                processed = msg.get("processed")
                if processed != len(got):
                    raise Died("protocol", {"error": "item count mismatch", "reports": got})
                return [*got, bool(msg.get("retire"))]
            raise Died("protocol", {"error": f"unexpected message {msg['op']!r}", "reports": got})

    def _map(self, fn: Any, chunks: list[Any]) -> list[Any]:
        if len(chunks) <= 1 or self.workers == 1:
            return [fn(c) for c in chunks]
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="ks_sandbox")
            executor = self._executor
        return list(executor.map(fn, chunks))

    def _run_batch(self, pipe: Any, values: list[Any]) -> list[Report]:
        chunks: list[list[int]] = [[]]
        size = 0
        # Several chunks per worker, so that a slow chunk does not leave a worker idle at the end.
        per = max(1, min(_BATCH_ITEMS, -(-len(values) // (4 * self.workers))))
        for i, v in enumerate(values):
            n = len(v) if isinstance(v, (bytes, bytearray, str)) else getattr(v, "nbytes", 0)
            if chunks[-1] and (len(chunks[-1]) >= per or size + n > _BATCH_BYTES):
                chunks.append([])
                size = 0
            chunks[-1].append(i)
            size += n
        parts = self._map(lambda idx: self._run_items(pipe, [values[i] for i in idx], idx), chunks)
        return [r for part in parts for r in part]

    # -- life ----------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop every worker and the zygote. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            groups = list(self._groups.values())
            executor, self._executor = self._executor, None
        for group in groups:
            group.close()
        if executor is not None:
            executor.shutdown(wait=False)
        for zygote in self._zygotes:
            zygote.close()
        self._finalizer.detach()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Sandbox workers={self.workers} {state} limits={self.limits}>"


def _shutdown(zygotes: list[Zygote], groups: dict[str, _Group]) -> None:
    for group in list(groups.values()):
        group.close()
    for zygote in zygotes:
        zygote.close()


def _paths(name: str, value: Iterable[str]) -> tuple[str, ...]:
    import os

    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ConfigError(f"Sandbox: {name} must be a list of paths. Received: {name}={value!r}")
    out = []
    for p in value:
        if not isinstance(p, (str, os.PathLike)):
            raise ConfigError(f"Sandbox: {name} must hold paths. Received: {p!r}")
        out.append(os.path.abspath(os.fspath(p)))
    return tuple(out)


def _layers(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigError(f"Sandbox: require must be a list of layer names. Received: require={value!r}")
    out = tuple(value)
    bad = [v for v in out if v not in LAYERS]
    if bad:
        raise ConfigError(f"Sandbox: require names unknown layers {bad}; known: {list(LAYERS)}")
    return out
