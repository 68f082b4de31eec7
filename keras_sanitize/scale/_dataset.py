"""``sanitize_dataset``: a pipeline over one column of a Ray Data dataset, crash-proof.

Ray Data restarts a dead actor and resubmits its batch. That alone would loop
forever on an input that kills its actor every time (a decoder crash), or
fail the job. So a tiny ledger actor remembers each batch (by content hash):

1. the first attempt runs the whole batch at full speed;
2. a batch that comes back has crashed an actor once: it is retried item by
   item, the ledger told which item runs before it runs;
3. when it comes back again, the item that was running is to blame: it is
   refused with ``sandbox.crashed`` and never run again, the others are run;
   each further crash blames one more item, so a batch of ``n`` rows finishes
   after at most ``n + 2`` attempts (and never more than
   ``ScaleLimits.max_crashes_per_batch`` crashes: the rest is then refused).

A crash between items (serializing the result, say) has no item to blame:
the batch's rows are refused with ``core.internal_error``. Every row in comes
out, accepted or explained.
"""

from __future__ import annotations

import collections
import hashlib
import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import Action, Finding, Report, Severity, _jsonable
from keras_sanitize.scale._ledger import Ledger
from keras_sanitize.stage import Stage, check_choice, check_number

__all__ = ["CRASH_CODE", "INTERNAL_CODE", "SanitizeBatch", "ScaleLimits", "sanitize_dataset", "summary"]

CRASH_CODE = "sandbox.crashed"
INTERNAL_CODE = "core.internal_error"
_OUT_COLUMNS = ("ok", "codes", "findings", "value")
_AFTER_ITEMS = -1  # the ledger's "running" marker once every item of a batch is done


@dataclass(frozen=True)
class ScaleLimits:
    """Limits of a Ray Data job (one frozen dataclass, like ``artifacts.ScanLimits``).

    Attributes:
        max_crashes_per_batch: actor deaths one batch may cause; after that its
            rows not yet run are refused with ``sandbox.crashed`` unrun. Ray's
            own ``max_task_retries`` is set just above it.
        ledger_timeout_s: how long an actor waits for the crash ledger.
    """

    max_crashes_per_batch: int = 16
    ledger_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        check_number(
            "ScaleLimits", "max_crashes_per_batch", self.max_crashes_per_batch, minimum=1, integer=True
        )
        check_number("ScaleLimits", "ledger_timeout_s", self.ledger_timeout_s, minimum=0.001)


def _refusal(code: str, message: str, *, index: int | None = None, modality: str | None = None) -> Report:
    finding = Finding(code, message, Severity.HIGH, Action.REJECT, stage="scale", index=index, fatal=True)
    return Report(False, None, (finding,), {}, modality)


def _item(value: Any) -> Any:
    """A Python value from one element of a numpy batch column."""
    if isinstance(value, np.str_):
        return str(value)
    if isinstance(value, np.bytes_):
        return bytes(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _digest(values: Any) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(str(len(values)).encode())
    for v in values:
        if isinstance(v, np.ndarray):
            h.update(f"a{v.dtype.str}{v.shape}".encode())
            h.update(np.ascontiguousarray(v).tobytes() if v.dtype != object else repr(v).encode())
        elif isinstance(v, (bytes, bytearray)):
            h.update(b"b%d:" % len(v))
            h.update(v)
        else:
            text = str(v).encode("utf-8", "surrogatepass")
            h.update(b"s%d:" % len(text))
            h.update(text)
    return h.hexdigest()


def _out_value(value: Any) -> Any:
    if value is None or isinstance(value, (np.ndarray, str, bytes, bool, int, float)):
        return value
    return json.dumps(_jsonable(value))


def _objects(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v
    return out


class SanitizeBatch:
    """The callable class ``sanitize_dataset`` hands to ``map_batches`` (one per actor).

    It can also be used directly with ``ds.map_batches(SanitizeBatch, fn_constructor_kwargs=...,
    batch_format="numpy")``; without a ``ledger`` there is no crash accounting.

    Args:
        pipeline: the stage or pipeline to run on each row (unpickled once per actor).
        column: the column holding the raw inputs.
        keep: ``"all"`` (refused rows stay, ``value`` null) or ``"accepted"``.
        ledger: the crash ledger actor (made by ``sanitize_dataset``).
        limits: :class:`ScaleLimits`.

    Example:
        >>> import numpy as np, keras_sanitize as ks
        >>> fn = SanitizeBatch(ks.text.default(), column="text")
        >>> out = fn({"text": np.array(["hello", "a\\u202eb"], dtype=object)})
        >>> out["ok"].tolist(), out["codes"][1]
        ([True, False], ['text.bidi_control'])
    """

    def __init__(
        self,
        pipeline: Stage,
        column: str = "item",
        keep: str = "all",
        ledger: Any = None,
        limits: ScaleLimits | None = None,
    ) -> None:
        if not isinstance(pipeline, Stage):
            raise ConfigError(
                f"SanitizeBatch: pipeline must be a Stage or Pipeline. Received: {pipeline!r:.120}"
            )
        self.pipeline = pipeline
        self.column = column
        self.keep = check_choice("SanitizeBatch", "keep", keep, ("all", "accepted"))
        self.ledger = ledger
        self.limits = limits or ScaleLimits()
        self.modality = getattr(pipeline, "modality_name", None) or (
            pipeline.modality if pipeline.modality != "any" else None
        )

    # -- one row ---------------------------------------------------------------
    def report(self, batch: Mapping[str, Any], index: int) -> Report:
        """Run the pipeline on row ``index`` of ``batch``; never raises."""
        try:
            return self.pipeline.run(_item(batch[self.column][index]))
        except Exception as exc:  # run() never raises; this is a last line of defence
            return _refusal(INTERNAL_CODE, f"{type(exc).__name__} while checking this row", index=index)

    # -- one batch ----------------------------------------------------------------
    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Sanitize one numpy batch; return it with the result columns added."""
        if self.column not in batch:
            raise ConfigError(
                f"sanitize_dataset: the dataset has no column {self.column!r}; its columns are "
                f"{sorted(batch)}. Pass column= (read_binary_files: 'bytes', read_images: 'image', "
                f"read_text: 'text')"
            )
        n = len(batch[self.column])
        if self.ledger is None:
            reports = [self.report(batch, i) for i in range(n)]
        else:
            reports = self._with_ledger(batch, n)
        return self.columns(batch, reports)

    def _with_ledger(self, batch: Mapping[str, Any], n: int) -> list[Report]:
        import ray

        timeout = self.limits.ledger_timeout_s
        key = _digest(batch[self.column])
        attempt, blamed = ray.get(self.ledger.begin.remote(key), timeout=timeout)
        if attempt == 1:
            reports = [self.report(batch, i) for i in range(n)]
            self.ledger.done.remote(key)
            return reports
        crashes = attempt - 1
        if _AFTER_ITEMS in blamed:
            reports = [
                _refusal(
                    INTERNAL_CODE,
                    "the actor checking this batch died after checking every row (while returning "
                    "the results); no single input is to blame, so the rows are refused to fail closed",
                    index=i,
                    modality=self.modality,
                )
                for i in range(n)
            ]
            self.ledger.done.remote(key)
            return reports
        reports = []
        for i in range(n):
            if i in blamed or crashes >= self.limits.max_crashes_per_batch:
                why = (
                    "this input killed the process checking it (a decoder crash); it was refused"
                    if i in blamed
                    else f"its batch killed {crashes} actors (ScaleLimits.max_crashes_per_batch="
                    f"{self.limits.max_crashes_per_batch}); the rows not yet checked are refused"
                )
                reports.append(
                    _refusal(
                        CRASH_CODE,
                        f"{why}. The actor was restarted by Ray and the rest of the batch retried. "
                        f"Inspect the input, or run decoding in the sandbox",
                        index=i,
                        modality=self.modality,
                    )
                )
                continue
            ray.get(self.ledger.running.remote(key, i), timeout=timeout)
            reports.append(self.report(batch, i))
        ray.get(self.ledger.running.remote(key, _AFTER_ITEMS), timeout=timeout)
        self.ledger.done.remote(key)
        return reports

    def columns(self, batch: dict[str, Any], reports: list[Report]) -> dict[str, Any]:
        """The output batch: the input columns plus ``ok``, ``codes``, ``findings``, ``value``."""
        out = {k: v for k, v in batch.items() if k not in _OUT_COLUMNS}
        out["ok"] = np.array([r.ok for r in reports], dtype=bool)
        out["codes"] = _objects([list(r.codes) for r in reports])
        out["findings"] = np.array(
            [json.dumps([f.to_dict() for f in r.findings]) for r in reports], dtype=object
        )
        out["value"] = _objects([_out_value(r.value) for r in reports])
        if self.keep == "accepted":
            mask = out["ok"]
            out = {k: v[mask] for k, v in out.items()}
        return out


def _compute(concurrency: Any) -> Any:
    import ray.data

    if concurrency is None:
        return ray.data.ActorPoolStrategy(min_size=1)
    if isinstance(concurrency, tuple) and len(concurrency) == 2:
        lo, hi = concurrency
        check_number("sanitize_dataset", "concurrency[0]", lo, minimum=1, integer=True)
        check_number("sanitize_dataset", "concurrency[1]", hi, minimum=lo, integer=True)
        return ray.data.ActorPoolStrategy(min_size=lo, max_size=hi)
    check_number("sanitize_dataset", "concurrency", concurrency, minimum=1, integer=True)
    return ray.data.ActorPoolStrategy(size=concurrency)


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError:
        raise ConfigError("keras_sanitize.scale needs Ray: pip install 'keras-sanitize[ray]'") from None
    return ray


def sanitize_dataset(
    ds: Any,
    pipeline: Stage,
    column: str = "item",
    *,
    keep: str = "all",
    concurrency: int | tuple[int, int] | None = None,
    batch_size: int = 64,
    num_cpus: float = 1.0,
    memory: int | None = None,
    limits: ScaleLimits | None = None,
) -> Any:
    """Run ``pipeline`` over ``column`` of a ``ray.data.Dataset``; return the lazy result dataset.

    Adds columns ``ok`` (bool), ``codes`` (list of finding codes), ``findings``
    (JSON list of findings) and ``value`` (the sanitized value, null when
    refused); ``keep="accepted"`` drops refused rows instead. One pipeline per
    actor, unpickled once. Corrupt files, bombs and inputs that kill an actor
    are refused rows, never a failed job.

    Args:
        ds: a Ray dataset (``read_binary_files`` -> ``column="bytes"``,
            ``read_images`` -> ``"image"``, ``read_text`` -> ``"text"``,
            ``from_items``/``read_parquet`` -> your column).
        pipeline: any stage or pipeline (it must pickle; every built-in does).
        column: the column of raw inputs.
        keep: ``"all"`` or ``"accepted"``.
        concurrency: actors: ``n``, ``(min, max)`` for autoscaling, or ``None``
            (autoscaling from 1).
        batch_size: rows per batch handed to an actor.
        num_cpus: CPUs reserved per actor.
        memory: bytes of memory reserved per actor (Ray schedules by it; see docs/scale.md).
        limits: :class:`ScaleLimits`.

    Example:
        >>> import keras_sanitize as ks
        >>> sanitize_dataset([], ks.text.default(), keep="some")
        Traceback (most recent call last):
        ...
        keras_sanitize.errors.ConfigError: sanitize_dataset: keep must be one of ['all', 'accepted']...
    """
    check_choice("sanitize_dataset", "keep", keep, ("all", "accepted"))
    if not isinstance(pipeline, Stage):
        raise ConfigError(
            f"sanitize_dataset: pipeline must be a Stage or Pipeline. Received: {pipeline!r:.120}"
        )
    if not isinstance(column, str) or not column:
        raise ConfigError(f"sanitize_dataset: column must be a column name. Received: column={column!r}")
    check_number("sanitize_dataset", "batch_size", batch_size, minimum=1, integer=True)
    check_number("sanitize_dataset", "num_cpus", num_cpus, minimum=0)
    check_number("sanitize_dataset", "memory", memory, minimum=1, integer=True, allow_none=True)
    limits = limits or ScaleLimits()
    if not isinstance(limits, ScaleLimits):
        raise ConfigError(f"sanitize_dataset: limits must be a ScaleLimits. Received: {limits!r}")
    ray = _ray()
    if not isinstance(ds, ray.data.Dataset):
        raise ConfigError(f"sanitize_dataset: ds must be a ray.data.Dataset. Received: {type(ds).__name__}")
    schema = ds.schema(fetch_if_missing=False)
    if schema is not None and column not in schema.names:
        raise ConfigError(
            f"sanitize_dataset: the dataset has no column {column!r}; its columns are {schema.names}. "
            f"Pass column= (read_binary_files: 'bytes', read_images: 'image', read_text: 'text')"
        )
    return _map(
        ds,
        SanitizeBatch,
        dict(pipeline=pipeline, column=column, keep=keep),
        limits,
        concurrency=concurrency,
        batch_size=batch_size,
        num_cpus=num_cpus,
        memory=memory,
    )


def _map(
    ds: Any,
    fn: type[SanitizeBatch],
    kwargs: dict[str, Any],
    limits: ScaleLimits,
    *,
    concurrency: Any,
    batch_size: int,
    num_cpus: float,
    memory: int | None,
) -> Any:
    ray = _ray()
    fixed = concurrency if isinstance(concurrency, int) else None
    cpus = ray.cluster_resources().get("CPU", 0.0) if ray.is_initialized() else 0.0
    if fixed is not None and cpus and fixed * num_cpus >= cpus:
        # Seen here: 2 one-CPU actors on a 2-CPU Ray starve read_binary_files' read tasks forever.
        warnings.warn(
            f"sanitize_dataset: concurrency={fixed} actors x num_cpus={num_cpus} take all {cpus:g} CPUs "
            f"of the cluster; a dataset that reads files (read_*) needs CPUs for its read tasks and "
            f"can stall. Use concurrency < {cpus:g}, concurrency=None (autoscaling) or a smaller num_cpus",
            RuntimeWarning,
            stacklevel=3,
        )
    ledger = ray.remote(num_cpus=0)(Ledger).remote()
    remote_args: dict[str, Any] = {
        "max_restarts": -1,
        # Ray resubmits a dead actor's batch; the ledger makes each resubmission progress.
        "max_task_retries": limits.max_crashes_per_batch + 2,
    }
    if memory is not None:
        remote_args["memory"] = memory
    return ds.map_batches(
        fn,
        fn_constructor_kwargs={**kwargs, "ledger": ledger, "limits": limits},
        compute=_compute(concurrency),
        batch_size=batch_size,
        batch_format="numpy",
        num_cpus=num_cpus,
        **remote_args,
    )


def summary(ds: Any) -> dict[str, int]:
    """Rows per finding code of a :func:`sanitize_dataset` result, most frequent first.

    Also counts ``"rows"``, ``"accepted"`` and ``"refused"`` (these keys are not
    finding codes: codes always contain a dot).

    Example:
        >>> summary([{"ok": True, "codes": []}, {"ok": False, "codes": ["text.bidi_control"] * 2}])
        {'rows': 2, 'accepted': 1, 'refused': 1, 'text.bidi_control': 1}
    """
    counts: collections.Counter[str] = collections.Counter()
    rows = accepted = 0
    if isinstance(ds, list):
        batches: Any = [{"ok": [r["ok"] for r in ds], "codes": [r["codes"] for r in ds]}]
    else:
        batches = ds.select_columns(["ok", "codes"]).iter_batches(batch_format="numpy", batch_size=4096)
    for batch in batches:
        for ok, codes in zip(batch["ok"], batch["codes"]):
            rows += 1
            accepted += bool(ok)
            counts.update(set(_item(c) for c in codes))
    return {"rows": rows, "accepted": accepted, "refused": rows - accepted, **dict(counts.most_common())}
