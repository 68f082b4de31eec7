"""The worker side of the protocol: receive a task, run pipelines or the model, send results back."""

from __future__ import annotations

import importlib
import json
import resource
import socket
from collections.abc import Callable, Mapping
from typing import Any

from keras_sanitize.findings import Action, Finding, Report, Severity
from keras_sanitize.sandbox import _codec as codec

__all__ = ["MAX_PIPELINES", "Server", "memory_finding"]

MAX_PIPELINES = 256  # distinct pipelines one worker keeps; past that it retires


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _NoSpace(Exception):
    """The caller refused to grow the result arena (max_transfer_mb)."""


def memory_finding(memory_mb: int, where: str, index: int | None) -> Finding:
    """The one fatal finding of an input that needed more memory than the sandbox allows."""
    return Finding(
        "sandbox.memory_exceeded",
        f"{where} needed more memory than the sandbox allows (memory_mb={memory_mb}: address space "
        f"a worker may add after start-up); the input was refused and the worker replaced. Raise "
        f"memory_mb if inputs this large are legitimate.",
        Severity.HIGH,
        Action.REJECT,
        "sandbox",
        index,
        detail={"memory_mb": memory_mb},
        fatal=True,
    )


def _is_memory_error(report: Report) -> bool:
    return any(f.code == "core.internal_error" and f.detail.get("exception") == "MemoryError"
               for f in report.findings)  # fmt: skip


class Server:
    """One worker's task loop state: arenas, pipelines by key, the model."""

    def __init__(self, sock: socket.socket, spec: dict[str, Any]) -> None:
        self.sock = sock
        self.spec = spec
        self.memory_mb = int(spec["limits"]["memory_mb"])
        max_tasks = spec["limits"].get("max_tasks_per_worker")
        self.max_tasks = int(max_tasks) if max_tasks else None
        self.down: codec.Arena | None = None
        self.up: codec.Arena | None = None
        self.up_off = 0
        self.pipelines: dict[str, Any] = {}
        self.model: Any = None
        self.tasks = 0
        self.retire = False
        self.cpu_seconds = float(spec["limits"]["cpu_seconds"])
        self.cpu_hard: float | None = None  # set after lockdown: the worker's lifetime CPU budget

    # -- start-up (before lockdown) ----------------------------------------------------------
    def start(self) -> dict[str, Any]:
        """Load what this worker serves (a model) before the limits apply."""
        model = self.spec.get("model")
        if not model:
            return {}
        from keras_sanitize.artifacts import load_model

        self.model = load_model(
            model["path"],
            sha256=model.get("sha256"),
            allow_modules=tuple(model.get("allow_modules", ())),
            allow_legacy_h5=bool(model.get("allow_legacy_h5", False)),
            compile=False,
        )
        return {"inputs": _describe_inputs(self.model), "outputs": _describe_outputs(self.model)}

    def send_failure(self, exc: BaseException) -> None:
        """Tell the caller why start-up failed (an ArtifactError keeps its report)."""
        report = getattr(exc, "report", None)
        msg = {"op": "failed", "type": type(exc).__name__, "message": str(exc)[:2000]}
        if isinstance(report, Report):
            self._emit(msg, lambda bufs: {"report": codec.report_to_wire(report, bufs)})
        else:
            self._emit(msg, lambda bufs: None)

    # -- the arenas and sending ----------------------------------------------------------------
    def _take_arenas(self, msg: dict[str, Any], fds: list[int]) -> None:
        names = msg.get("arenas") or []
        sizes = msg.get("sizes") or []
        for name, fd, size in zip(names, fds, sizes):
            arena = codec.Arena(int(size), fd)
            arena.release_fd()
            old = self.down if name == "down" else self.up
            if name == "down":
                self.down = arena
            else:
                self.up, self.up_off = arena, 0
            if old is not None:
                old.close()

    def _space(self, need: int) -> None:
        codec.send(self.sock, {"op": "space", "need": need})
        msg, fds = codec.recv(self.sock)
        if msg["op"] != "space":
            raise codec.ProtocolError(f"expected a space reply, got {msg['op']!r}")
        self._take_arenas(msg, fds)
        self.up_off = 0
        if msg.get("refused"):
            raise _NoSpace(str(msg.get("refused")))

    def _emit(self, msg: dict[str, Any], build: Callable[[list[Any]], Any]) -> None:
        bufs: list[tuple[dict[str, Any], memoryview]] = []
        body = build(bufs)
        for attempt in range(2):
            base = self.up_off
            descs, end = codec.layout(bufs, base)
            header = json.dumps({**msg, "body": body, "bufs": descs}, separators=(",", ":")).encode()
            big = len(header) > codec.MAX_HEADER
            hoff = (end + 63) // 64 * 64
            total = hoff + len(header) if big else end
            if self.up is None or total > self.up.size:
                if attempt:
                    raise _NoSpace("arena still too small")
                self._space(total - base)
                continue
            codec.write(self.up, bufs, descs)
            self.up_off = total
            if big:
                self.up.mm[hoff : hoff + len(header)] = header
                codec.send(self.sock, {"op": "big", "o": hoff, "n": len(header)})
            else:
                self.sock.sendall(header)
            return

    def _recv_body(self, msg: dict[str, Any], copy: bool = True) -> Any:
        if msg["op"] == "big":
            assert self.down is not None
            off, n = int(msg["o"]), int(msg["n"])
            msg.update(json.loads(bytes(self.down.mm[off : off + n])))
        # The caller is trusted and the arena stays put until the next task: arrays need no copy.
        return codec.decode(msg.get("body"), msg.get("bufs") or [], self.down, copy=copy)

    # -- the loop -------------------------------------------------------------------------------
    def serve_one(self) -> bool:
        """Handle one task; ``False`` when the worker should exit."""
        try:
            msg, fds = codec.recv(self.sock)
        except EOFError:
            return False
        try:
            self._take_arenas(msg, fds)
        except (MemoryError, OSError, ValueError):  # mapping the input needs more than memory_mb
            self.retire = True
            self._emit({"op": "done", "error": "memory", "retire": True, "processed": 0}, lambda bufs: None)
            return False
        if msg["op"] == "exit":
            return False
        self.up_off = 0
        # Retire decisions travel with this task's answer, so the caller never sends to an exited worker.
        if self.max_tasks is not None and self.tasks + 1 >= self.max_tasks:
            self.retire = True
        if self.cpu_hard is not None and _cpu_used() + 2 * self.cpu_seconds + 1 >= self.cpu_hard:
            self.retire = True
        body = self._recv_body(msg, copy=False)
        task = msg.get("task", msg["op"])
        if task == "ping":
            self._emit({"op": "done", "retire": self.retire}, lambda bufs: None)
        elif task == "run":
            self._run(body)
        elif task == "predict":
            self._predict(body)
        else:
            raise codec.ProtocolError(f"unknown task {task!r}")
        self.tasks += 1
        return not self.retire

    def _pipeline(self, body: Mapping[str, Any]) -> Any:
        key = body["key"]
        pipe = self.pipelines.get(key)
        if pipe is None:
            config = body.get("config")
            if config is None:
                raise LookupError(f"pipeline {key} is unknown to this worker")
            if isinstance(config, dict) and set(config) == {"validate"}:
                pipe = self.pipelines[key] = _Validate(config["validate"])
                return pipe
            for module in body.get("modules", ()):
                importlib.import_module(module)
            from keras_sanitize.config import deserialize_stage

            pipe = deserialize_stage(config)
            self.pipelines[key] = pipe
            if len(self.pipelines) > MAX_PIPELINES:
                self.retire = True
        return pipe

    def _run(self, body: Mapping[str, Any]) -> None:
        items, indices = body["items"], body["indices"]
        try:
            pipe = self._pipeline(body)
        except Exception as exc:
            self._emit({"op": "done", "processed": 0, "error": f"{type(exc).__name__}: {exc}"[:2000]},
                       lambda bufs: None)  # fmt: skip
            return
        if body.get("config") is not None:
            # Built (imports, rules): the caller's per-input timeout starts now.
            self._emit({"op": "built"}, lambda bufs: None)
        overrides = tuple({str(k): Action(v) for k, v in o.items()} for o in body.get("overrides", ()))
        monitor = bool(body.get("monitor", False))
        done = 0
        for i, (value, index) in enumerate(zip(items, indices)):
            try:
                report = pipe._run(value, index=index, monitor=monitor, overrides=overrides)
            except MemoryError:
                report = Report(False, None, (memory_finding(self.memory_mb, "this input", index),),
                                {}, pipe.modality_name, index)  # fmt: skip
                self.retire = True
            if _is_memory_error(report):
                report = Report(False, None, (memory_finding(self.memory_mb, "this input", index),),
                                report.timings, report.modality, index)  # fmt: skip
                self.retire = True
            done += 1
            # The last report rides on the "done" message: one wake-up of the caller, not two.
            last = done == len(items) or self.retire
            head = {"op": "done", "processed": done, "retire": self.retire, "item": True} if last else {
                "op": "item", "i": i}  # fmt: skip
            self._send_report(head, report, pipe.modality_name, index)
            if last:
                return
        self._emit({"op": "done", "processed": done, "retire": self.retire}, lambda bufs: None)

    def _send_report(
        self, head: dict[str, Any], report: Report, modality: str | None, index: int | None
    ) -> None:
        try:
            self._emit(head, lambda bufs: codec.report_to_wire(report, bufs))
            return
        except codec.Unsupported as exc:
            code, what = "sandbox.unsupported_value", f"the pipeline's result holds {exc}, which cannot " \
                "leave the sandbox (arrays, bytes, text, numbers and lists/dicts of them can)"
        except _NoSpace:
            code, what = "sandbox.output_too_large", "the pipeline's result is larger than max_transfer_mb"
        except MemoryError:
            self.retire = True
            code, what = "sandbox.memory_exceeded", "sending the result needed more memory than memory_mb"
        finding = Finding(code, f"{what}; the input was refused.", Severity.HIGH, Action.REJECT, "sandbox",
                          index, fatal=True)  # fmt: skip
        bad = Report(False, None, (finding,), report.timings, modality, index)
        head["retire"] = self.retire if head["op"] == "done" else None
        self._emit(head, lambda bufs: codec.report_to_wire(bad, bufs))

    def _predict(self, body: Mapping[str, Any]) -> None:
        method, x, kwargs = body["method"], body["x"], dict(body.get("kwargs") or {})
        model = self.model
        try:
            if model is None:
                raise RuntimeError("this worker holds no model")
            if method == "predict":
                y = model.predict(x, **kwargs)
            elif method == "predict_on_batch":
                y = model.predict_on_batch(x)
            elif method == "call":
                import keras

                y = keras.tree.map_structure(keras.ops.convert_to_numpy, model(x, **kwargs))
            else:
                raise ValueError(f"unknown method {method!r}")
        except MemoryError:
            self.retire = True
            self._emit({"op": "done", "error": "memory", "retire": True}, lambda bufs: None)
            return
        except Exception as exc:
            text = f"{type(exc).__name__}: {exc}"
            if "RESOURCE_EXHAUSTED" in text or "Out of memory" in text:
                # XLA's allocator refused (RLIMIT_AS); the runtime is not reliable after that.
                self.retire = True
                self._emit({"op": "done", "error": "memory", "retire": True}, lambda bufs: None)
                return
            self._emit({"op": "done", "error": text[:2000], "retire": self.retire}, lambda bufs: None)
            return
        try:
            self._emit({"op": "done", "retire": self.retire}, lambda bufs: {"y": codec.encode(y, bufs)})
        except (_NoSpace, codec.Unsupported, MemoryError) as exc:
            self.retire = self.retire or isinstance(exc, MemoryError)
            self._emit({"op": "done", "error": f"the model's output cannot leave the sandbox: {exc}"},
                       lambda bufs: None)  # fmt: skip


class _Validate:
    """``ks.validate`` (sniff the modality, run its default pipeline) as a worker-side pipeline."""

    def __init__(self, modality: str | None) -> None:
        self.modality_name = modality

    def _run(self, value: Any, *, index: int | None, monitor: bool, overrides: Any) -> Report:
        from keras_sanitize._dispatch import validate

        report: Any = validate(value, modality=self.modality_name)
        if isinstance(report, list):  # ks.validate reads a list of str/bytes as a batch
            finding = Finding("sandbox.unsupported_value", "Sandbox.validate takes one input; a list of "
                              "str/bytes is a batch: pass it to Sandbox.validate_batch", Severity.HIGH,
                              Action.REJECT, "sandbox", index, fatal=True)  # fmt: skip
            return Report(False, None, (finding,), {}, self.modality_name, index)
        if index is None:
            return report  # type: ignore[no-any-return]
        findings = tuple(f.with_(index=index) for f in report.findings)
        return Report(report.ok, report.value, findings, report.timings, report.modality, index)


def _spec(t: Any) -> list[Any]:
    shape = [None if d is None else int(d) for d in t.shape]
    return [str(getattr(t, "name", "")), shape, str(getattr(t, "dtype", "float32"))]


def _describe_inputs(model: Any) -> dict[str, Any] | None:
    struct = getattr(model, "_inputs_struct", None)
    if struct is None:
        struct = getattr(model, "inputs", None)
    if struct is None:
        return None
    if isinstance(struct, Mapping):
        return {"kind": "dict", "specs": {str(k): _spec(t) for k, t in struct.items()}}
    if isinstance(struct, (list, tuple)):
        if len(struct) == 1:
            return {"kind": "single", "specs": [_spec(struct[0])]}
        return {"kind": "list", "specs": [_spec(t) for t in struct]}
    return {"kind": "single", "specs": [_spec(struct)]}


def _describe_outputs(model: Any) -> list[Any] | None:
    try:
        outputs = model.outputs
    except Exception:
        return None
    return [_spec(t) for t in outputs] if outputs else None
