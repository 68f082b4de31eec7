"""One pool of identical workers inside a :class:`Sandbox`, and the reports it makes without a worker."""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any

from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import Action, Finding, Report, Severity
from keras_sanitize.sandbox._process import StartFailed, Worker

if TYPE_CHECKING:
    from keras_sanitize.sandbox._pool import Sandbox

__all__ = ["Group", "Validator", "no_worker", "unavailable"]


class Group:
    """The workers started from one spec (plain pipeline workers, or one model's workers)."""

    def __init__(self, box: Sandbox, spec: dict[str, Any], size: int) -> None:
        self.box = box
        self.spec = spec
        self.size = size
        self.idle: list[Worker] = []
        self.all: set[Worker] = set()
        self.cond = threading.Condition()
        self.info: dict[str, Any] | None = None

    def _start(self) -> Worker:
        worker = Worker(self.box._live_zygote(), self.spec)
        self.all.add(worker)
        return worker

    def warm(self) -> None:
        with self.cond:
            while len(self.all) < self.size:
                self.idle.append(self._start())

    def acquire(self) -> Worker:
        with self.cond:
            while True:
                if self.box._closed:
                    raise ConfigError("the Sandbox is closed; create a new one")
                if self.idle:
                    worker = self.idle.pop()
                    if worker.ready is not None and worker.gone():
                        # Died while idle (killed from outside): never hand it an input.
                        self.all.discard(worker)
                        worker.kill()
                        continue
                    break
                if len(self.all) < self.size:
                    worker = self._start()
                    break
                self.cond.wait()
        try:
            ready = worker.wait_ready(self.box.limits.start_timeout)
        except StartFailed:
            self.discard(worker, replace=False)
            raise
        if self.info is None:
            self.info = ready
        return worker

    def release(self, worker: Worker) -> None:
        with self.cond:
            if worker.alive and not self.box._closed:
                self.idle.append(worker)
            self.cond.notify()

    def discard(self, worker: Worker, replace: bool = True) -> dict[str, Any]:
        status = worker.kill()
        with self.cond:
            self.all.discard(worker)
            if replace and not self.box._closed:
                # Keep the pool warm: the replacement starts while the caller reads its report.
                with contextlib.suppress(StartFailed, OSError):
                    self.idle.append(self._start())
            self.cond.notify()
        return status

    def close(self) -> None:
        with self.cond:
            workers = list(self.all)
            self.all.clear()
            self.idle.clear()
            self.cond.notify_all()
        for worker in workers:
            worker.kill()


class Validator:
    """What :meth:`Sandbox.validate` sends: the worker runs ``ks.validate`` instead of a pipeline."""

    def __init__(self, modality: str | None) -> None:
        self.modality_name = modality
        self.name = "validate"
        self._key = f"validate:{modality}"
        self._config = {"validate": modality}
        self._modules: list[str] = []


def no_worker(pipe: Any, error: str, index: int | None) -> Report:
    finding = Finding("sandbox.unavailable", f"no sandbox worker could start ({error}); the input was "
                      "refused unchecked. Check the machine (memory, process limits) and isolation_notes().",
                      Severity.HIGH, Action.REJECT, "sandbox", index, fatal=True)  # fmt: skip
    return Report(False, None, (finding,), {}, pipe.modality_name, index)


def unavailable(pipe: Any, error: str, index: int | None) -> Report:
    finding = Finding("sandbox.pipeline_unavailable", f"the sandbox worker could not build pipeline "
                      f"{pipe.name!r}: {error}. Define custom stages in an importable module (not __main__) "
                      "and register them with @ks.register_stage().", Severity.HIGH, Action.REJECT,
                      "sandbox", index, fatal=True)  # fmt: skip
    return Report(False, None, (finding,), {}, pipe.modality_name, index)
