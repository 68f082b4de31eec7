"""``probe``: run attack families against a target, raw and behind its pipeline, and measure."""

from __future__ import annotations

import base64
import functools
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import Action, Finding, Report, Severity, echo
from keras_sanitize.fuzzing._args import (
    ARRAY_FAMILIES,
    DEFAULT_SHAPES,
    ProbeLimits,
    _check_args,
    _check_kwargs,
    _clean_samples,
    _corpora,
    _select,
    _Wire,
    families,
)
from keras_sanitize.fuzzing._families import Case, Family, GenContext, family_rng
from keras_sanitize.fuzzing._report import FamilyResult, ProbeReport, rates
from keras_sanitize.fuzzing._target import Outcome, Target
from keras_sanitize.stage import Stage

__all__ = ["ARRAY_FAMILIES", "DEFAULT_SHAPES", "ProbeLimits", "attacks", "families", "probe"]


def _verdict(report: Report) -> str:
    if not report.ok:
        return "refused"
    if any(f.action is Action.SANITIZE for f in report.findings):
        return "sanitized"
    return "passed"


def _leaked(text: str, canary: str | None) -> bool:
    if not canary:
        return False
    forms = (canary, base64.b64encode(canary.encode()).decode(), canary[::-1])
    return any(f in text for f in forms)


class _Effect:
    """Per-path accumulators of flips, changes, follows and leaks."""

    def __init__(self) -> None:
        self.flips: list[bool] = []
        self.changes: list[float] = []
        self.follows: list[bool] = []
        self.leaks: list[bool] = []
        self.crashes = 0

    def add(self, out: Outcome, ref: Outcome | None, case: Case, canary: str | None) -> None:
        if not out.ok:
            self.crashes += 1
            return
        if isinstance(out.output, str):
            self.follows.append(bool(case.marker) and str(case.marker) in out.output)
            self.leaks.append(_leaked(out.output, canary))
            return
        if ref is None or not ref.ok or isinstance(ref.output, str) or ref.output.shape != out.output.shape:
            return
        a, b = np.asarray(out.output), np.asarray(ref.output)
        if a.size > 1:
            self.flips.append(bool(np.argmax(a) != np.argmax(b)))
        self.changes.append(float(np.mean(np.abs(a - b))))

    def blocked(self, text: bool, numeric_flip: bool) -> None:
        """An input the pipeline refused: the model never saw it, so it moved nothing."""
        if text:
            self.follows.append(False)
            self.leaks.append(False)
        else:
            if numeric_flip:
                self.flips.append(False)
            self.changes.append(0.0)

    def stats(self, extra: dict[str, int] | None = None) -> dict[str, Any]:
        return rates(self.flips, self.changes, self.follows, self.leaks, self.crashes, extra)


def _calibration_of(pipeline: Any) -> dict[str, Any] | None:
    stages = getattr(pipeline, "stages", None) or ([pipeline] if pipeline is not None else [])
    for stage in stages:
        cal = getattr(stage, "calibration", None)
        if isinstance(cal, dict):
            return cal
        inner = _calibration_of(stage) if getattr(stage, "stages", None) else None
        if inner is not None:
            return inner
    return None


def probe(
    target: Any,
    modality: str,
    pipeline: Stage | None = None,
    budget: int = 1000,
    seed: int = 0,
    families: Iterable[str] | str | None = None,
    canary: str | None = None,
    *,
    samples: Sequence[Any] | None = None,
    input_shape: Sequence[int] | None = None,
    sample_rate: int = 16000,
    epsilons: Sequence[float] | None = None,
    timeout: float = 30.0,
    corpora: str | os.PathLike[str] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    limits: ProbeLimits | None = None,
) -> ProbeReport:
    """Fuzz ``target`` with the attack families of ``modality``, raw and behind ``pipeline``.

    Args:
        target: a Keras model, a ``ks.wrap``-ped model (its input pipeline is used when
            ``pipeline`` is None) or a callable on a batch: ``f(list[str])`` for text
            (returning scores or generated strings), ``f(np.ndarray)`` for the others.
        modality: ``"text"``, ``"image"``, ``"audio"`` or ``"tensor"``.
        pipeline: the guard to measure; it must output what the model takes.
        budget: total attacked inputs, split evenly over the families.
        seed: every family draws from a generator seeded by ``seed`` and its name.
        families: names to run (see :func:`families`); default all.
        canary: a secret from the system prompt; an output holding it (or its base64 or
            reversed form) is a leak.
        samples: clean seed inputs (texts, ``uint8`` HWC images, float audio, arrays).
        input_shape: per-item input shape when the target is not a Keras model.
        sample_rate: the audio model's rate.
        epsilons: L-inf budgets on the [0, 1] scale for noise/FGSM/PGD (default 2, 4, 8, 16 /255).
        timeout: seconds per target call before it counts as hung.
        corpora: the shared corpora folder (default ``$KERAS_SANITIZE_SHARED/corpora``).
        progress: ``progress(done, total, family)`` after each family.
        limits: a :class:`ProbeLimits` (largest budget, input, sample set).

    Returns:
        A :class:`ProbeReport`. A target that raises, hangs or returns NaN or the wrong
        shape is reported (``probe.target_*`` findings, ``crashes``), never raised.

    Example:
        >>> import numpy as np, keras_sanitize as ks
        >>> model = lambda x: np.stack([x.mean(axis=1), 1 - x.mean(axis=1)], 1)
        >>> report = ks.fuzzing.probe(model, "tensor", ks.tensor.default(shape=(8,)), budget=10)
        >>> report.summary()["n"], report.family("nan_inf").refused
        (10, 2)
    """
    _check_args(modality, budget, seed, canary, pipeline, timeout)
    limits = limits if limits is not None else ProbeLimits()
    if not isinstance(limits, ProbeLimits):
        raise ConfigError(f"probe: limits must be a ProbeLimits. Received: limits={limits!r:.80}")
    shape_arg, eps = _check_kwargs(limits, budget, samples, input_shape, sample_rate, epsilons)
    selected = _select(modality, families)
    started = time.perf_counter()
    tgt = Target(target, modality, float(timeout), shape_arg)
    if pipeline is None:
        pipeline = tgt.pipeline
    shape = tgt.shape or (DEFAULT_SHAPES.get(modality) if modality != "text" else None)
    if modality == "image" and (shape is None or len(shape) != 3 or shape[-1] not in (1, 3)):
        raise ConfigError(f"probe: image models must take (height, width, 1 or 3) inputs. Received: {shape}")
    wire = _Wire(modality, shape, sample_rate)
    seeds = _clean_samples(modality, samples, shape) if samples is not None else wire.seeds(seed)
    ctx = GenContext(
        samples=seeds,
        shape=shape,
        rate=sample_rate,
        corpora=_corpora(corpora),
        epsilons=eps if eps is not None else GenContext.epsilons,
    )
    if modality == "image" and tgt.keras:
        ctx.gradient = tgt.gradient()
        ctx.predict = tgt.predict01

    skipped: dict[str, str] = {}
    runnable = []
    for fam in selected:
        reason = fam.available(ctx) if fam.available else None
        if reason is None and fam.needs_gradients and ctx.gradient is None:
            reason = "needs gradients: the target is not a Keras model"
        if reason:
            skipped[fam.name] = reason
        else:
            runnable.append(fam)

    # Clean references, computed once per seed for both paths.
    raw_ref = dict(zip(map(id, seeds), tgt([wire.naive(s) for s in seeds])))
    guarded_ref: dict[int, Outcome | None] = {}
    findings: Counter[tuple[str, str, str]] = Counter()
    examples: dict[tuple[str, str, str], str] = {}
    if pipeline is not None:
        clean_reports = [_run(pipeline, wire.clean_wire(s)) for s in seeds]
        ok_vals = [(s, r) for s, r in zip(seeds, clean_reports) if isinstance(r, Report) and r.ok]
        outs = tgt([r.value for _, r in ok_vals])
        guarded_ref = {id(s): None for s in seeds}
        guarded_ref.update({id(s): o for (s, _), o in zip(ok_vals, outs)})
        refused_seeds = len(seeds) - len(ok_vals)
        if refused_seeds:
            key = ("probe.clean_refused", "*", "guarded")
            findings[key] += refused_seeds
            examples[key] = "the pipeline refuses clean seed inputs (false positives)"

    per_family = (
        [budget // len(runnable) + (1 if i < budget % len(runnable) else 0) for i in range(len(runnable))]
        if runnable
        else []
    )
    results = []
    for done, (fam, n) in enumerate(zip(runnable, per_family), 1):
        if n:
            results.append(
                _run_family(
                    fam, n, seed, ctx, wire, tgt, pipeline, raw_ref, guarded_ref, canary, findings, examples
                )
            )
        if progress is not None:
            progress(done, len(runnable), fam.name)

    report_findings = [
        Finding(
            code,
            _finding_message(code, count, fam, examples[(code, fam, path)]),
            Severity.HIGH,
            Action.WARN,
            stage="probe",
            detail={"family": fam, "path": path, "count": count},
        )
        for (code, fam, path), count in sorted(findings.items())
    ]
    return ProbeReport(
        target=str(tgt.name),
        modality=modality,
        seed=seed,
        budget=budget,
        pipeline=getattr(pipeline, "name", None) if pipeline is not None else None,
        families=results,
        skipped=skipped,
        findings=report_findings,
        calibration=_calibration_of(pipeline),
        timings={"total": time.perf_counter() - started},
    )


def _finding_message(code: str, count: int, family: str, example: str) -> str:
    what = {
        "probe.target_raised": "the target must not raise on inputs that reach it",
        "probe.target_timeout": "the target must answer within the per-call timeout",
        "probe.target_non_finite": "the target's outputs must be finite",
        "probe.target_bad_shape": "the target must return one output row per input, of one shape",
        "probe.pipeline_raised": "a pipeline must report, never raise, on hostile input",
        "probe.clean_refused": "the pipeline should accept the clean seed inputs",
    }.get(code, code)
    return f"{what}; {count} inputs of family {family!r} failed, e.g. {example}"


def _run(pipeline: Stage, value: Any) -> Report | Exception:
    try:
        return pipeline.run(value)
    except Exception as exc:
        return exc


def _run_family(
    fam: Family,
    n: int,
    seed: int,
    ctx: GenContext,
    wire: _Wire,
    tgt: Target,
    pipeline: Stage | None,
    raw_ref: dict[int, Outcome],
    guarded_ref: dict[int, Outcome | None],
    canary: str | None,
    findings: Counter[tuple[str, str, str]],
    examples: dict[tuple[str, str, str], str],
) -> FamilyResult:
    timings: dict[str, float] = {}
    t = time.perf_counter()
    cases = fam.generate(ctx, n, family_rng(seed, fam.name))
    timings["generate"] = time.perf_counter() - t

    def note(code: str, path: str, message: str) -> None:
        key = (code, fam.name, path)
        findings[key] += 1
        examples.setdefault(key, message)

    def ref_of(table: dict[int, Any], case: Case, compute: Callable[[], Any]) -> Any:
        key = id(case.clean)
        if key not in table:
            table[key] = compute()
        return table[key]

    # raw path: the naive decode (may fail on hostile files), then the model
    t = time.perf_counter()
    raw_inputs: list[Any] = []
    decode_errors = 0
    for case in cases:
        try:
            raw_inputs.append(wire.naive(case.attacked))
        except Exception:
            raw_inputs.append(None)
            decode_errors += 1
    idx = [i for i, v in enumerate(raw_inputs) if v is not None]
    raw_outs: dict[int, Outcome] = dict(zip(idx, tgt([raw_inputs[i] for i in idx])))
    timings["raw"] = time.perf_counter() - t

    # guarded path: the pipeline, then the model on what it let through
    verdicts: list[str] = []
    codes: Counter[str] = Counter()
    guarded_outs: dict[int, Outcome] = {}
    pipe_crash = [False] * len(cases)
    if pipeline is not None:
        t = time.perf_counter()
        values: dict[int, Any] = {}
        for i, case in enumerate(cases):
            rep = _run(pipeline, case.attacked)
            if isinstance(rep, Exception):
                pipe_crash[i] = True
                note("probe.pipeline_raised", "guarded", f"{type(rep).__name__}: {echo(str(rep))}")
                verdicts.append("refused")
                continue
            verdict = _verdict(rep)
            verdicts.append(verdict)
            if verdict == "refused":
                codes.update(set(f.code for f in rep.rejections))
            else:
                values[i] = rep.value
        timings["pipeline"] = time.perf_counter() - t
        t = time.perf_counter()
        guarded_outs = dict(zip(values, tgt(list(values.values()))))
        timings["guarded"] = time.perf_counter() - t
    else:
        verdicts = ["passed"] * len(cases)

    text_out = tgt.text_outputs
    flip = bool(tgt.out_shape) and int(np.prod(tgt.out_shape or (1,))) > 1
    raw_all, guarded_all = _Effect(), _Effect()
    by_variant: dict[str, tuple[_Effect, _Effect, Counter[str]]] = {}
    crashes = 0
    for i, case in enumerate(cases):
        v_raw, v_guard, v_count = by_variant.setdefault(case.variant, (_Effect(), _Effect(), Counter()))
        v_count[verdicts[i]] += 1
        crashed = pipe_crash[i]
        if i in raw_outs:
            out = raw_outs[i]
            ref = ref_of(raw_ref, case, functools.partial(_raw_clean, tgt, wire, case.clean))
            for eff in (raw_all, v_raw):
                eff.add(out, ref, case, canary)
            if not out.ok:
                crashed = True
                note(str(out.code), "raw", out.message)
        if pipeline is None:
            crashes += crashed
            continue
        if verdicts[i] == "refused":
            for eff in (guarded_all, v_guard):
                eff.blocked(text_out, flip)
        elif i in guarded_outs:
            out = guarded_outs[i]
            ref = ref_of(
                guarded_ref, case, functools.partial(_guarded_clean, pipeline, wire, tgt, case.clean)
            )
            for eff in (guarded_all, v_guard):
                eff.add(out, ref, case, canary)
            if not out.ok:
                crashed = True
                note(str(out.code), "guarded", out.message)
        crashes += crashed

    counts = Counter(verdicts)
    variants = {}
    if len(by_variant) > 1 or "" not in by_variant:
        for name in sorted(by_variant):
            v_raw, v_guard, v_count = by_variant[name]
            variants[name] = {
                "n": sum(v_count.values()),
                "refused": v_count["refused"],
                "sanitized": v_count["sanitized"],
                "passed": v_count["passed"],
                "raw": v_raw.stats(),
                "guarded": v_guard.stats() if pipeline is not None else None,
            }
    return FamilyResult(
        name=fam.name,
        description=fam.description,
        n=len(cases),
        refused=counts["refused"],
        sanitized=counts["sanitized"],
        passed=counts["passed"],
        crashes=crashes,
        raw=raw_all.stats({"decode_errors": decode_errors} if decode_errors else None),
        guarded=guarded_all.stats() if pipeline is not None else None,
        refusal_codes=dict(codes),
        variants=variants,
        timings=timings,
    )


def _raw_clean(tgt: Target, wire: _Wire, clean: Any) -> Outcome:
    return tgt([wire.naive(clean)])[0]


def _guarded_clean(pipeline: Stage, wire: _Wire, tgt: Target, clean: Any) -> Outcome | None:
    rep = _run(pipeline, wire.clean_wire(clean))
    if not isinstance(rep, Report) or not rep.ok:
        return None
    return tgt([rep.value])[0]


def attacks(
    target: Any,
    family: str = "fgsm",
    n: int = 64,
    seed: int = 0,
    *,
    samples: Sequence[Any] | None = None,
    epsilons: Sequence[float] | None = None,
    successful_only: bool = True,
) -> np.ndarray:
    """Attacked images from one image family, as float32 ``(N, H, W, C)`` in [0, 1].

    The material :meth:`keras_sanitize.image.FeatureSqueezing.calibrate` takes as
    ``attacks=``. With ``successful_only`` only the attacks that change the target's
    label are kept (those are what a detector must catch).

    Example:
        >>> import keras, numpy as np, keras_sanitize as ks
        >>> model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(2)])
        >>> x = ks.fuzzing.attacks(model, "uniform_noise", n=4, successful_only=False)
        >>> x.shape, x.dtype
        ((4, 8, 8, 1), dtype('float32'))
    """
    tgt = Target(target, "image", 60.0, None)
    if tgt.shape is None or len(tgt.shape) != 3:
        raise ConfigError(
            f"attacks: the target must be a Keras image model with a known input shape; got {tgt.shape}"
        )
    if family not in ARRAY_FAMILIES:
        raise ConfigError(
            f"attacks: family must be one of {list(ARRAY_FAMILIES)}. Received: family={family!r}"
        )
    fam = {f.name: f for f in _select("image", None)}[family]
    wire = _Wire("image", tgt.shape, 16000)
    ctx = GenContext(
        samples=list(samples) if samples is not None else wire.seeds(seed),
        shape=tgt.shape,
        gradient=tgt.gradient(),
        predict=tgt.predict01,
        epsilons=tuple(epsilons) if epsilons is not None else GenContext.epsilons,
    )
    cases = fam.generate(ctx, n, family_rng(seed, family))
    x = np.stack([wire.naive(c.attacked) for c in cases]).astype(np.float32)
    if successful_only:
        clean = np.stack([wire.naive(c.clean) for c in cases])
        keep = np.argmax(tgt.predict01(x), 1) != np.argmax(tgt.predict01(clean), 1)
        x = x[keep]
    return x
