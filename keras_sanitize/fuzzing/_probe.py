"""``probe``: run attack families against a target, raw and behind its pipeline, and measure."""

from __future__ import annotations

import base64
import functools
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import Action, Finding, Report, Severity, echo
from keras_sanitize.fuzzing._families import Case, Family, GenContext, family_rng
from keras_sanitize.fuzzing._report import FamilyResult, ProbeReport, rates
from keras_sanitize.fuzzing._target import Outcome, Target
from keras_sanitize.stage import Stage

__all__ = ["ARRAY_FAMILIES", "DEFAULT_SHAPES", "ProbeLimits", "attacks", "families", "probe"]


@dataclass(frozen=True)
class ProbeLimits:
    """Resource limits of :func:`probe`; every field is overridable.

    Attributes:
        max_budget: most attacked inputs in one probe.
        max_input_elements: largest per-item input (product of ``input_shape``).
        max_samples: most clean seed inputs.

    Example:
        >>> ProbeLimits(max_budget=50).max_budget
        50
    """

    max_budget: int = 100_000
    max_input_elements: int = 1 << 24
    max_samples: int = 10_000


#: Per-item input shape used when neither the model nor ``input_shape`` gives one.
DEFAULT_SHAPES: dict[str, tuple[int, ...]] = {"image": (64, 64, 3), "audio": (16000,), "tensor": (8,)}
MODALITIES = ("text", "image", "audio", "tensor")


def _all_families() -> dict[str, tuple[Family, ...]]:
    from keras_sanitize.fuzzing._audio import AUDIO_FAMILIES
    from keras_sanitize.fuzzing._image import IMAGE_FAMILIES
    from keras_sanitize.fuzzing._tensor import TENSOR_FAMILIES
    from keras_sanitize.fuzzing._text import TEXT_FAMILIES

    return {
        "text": TEXT_FAMILIES,
        "image": IMAGE_FAMILIES,
        "audio": AUDIO_FAMILIES,
        "tensor": TENSOR_FAMILIES,
    }


def families(modality: str) -> tuple[str, ...]:
    """The names of the attack families of ``modality``, in the order the probe runs them.

    Example:
        >>> families("tensor")
        ('nan_inf', 'out_of_range', 'wrong_dtype', 'wrong_shape', 'denormals')
    """
    if not isinstance(modality, str) or modality not in MODALITIES:
        raise ConfigError(f"modality must be one of {list(MODALITIES)}. Received: modality={echo(modality)}")
    return tuple(f.name for f in _all_families()[modality])


#: Image families whose attacks are pixel arrays (what :func:`attacks` can return).
ARRAY_FAMILIES = ("uniform_noise", "gaussian_noise", "fgsm", "pgd", "jpeg", "bit_depth")


def _corpora(corpora: str | os.PathLike[str] | None) -> Path | None:
    if corpora is not None:
        path = Path(corpora)
        return path if path.is_dir() else None
    shared = os.environ.get("KERAS_SANITIZE_SHARED")
    for candidate in ([Path(shared) / "corpora"] if shared else []) + [Path("/work/shared/corpora")]:
        if candidate.is_dir():
            return candidate
    return None


def _select(modality: str, names: Iterable[str] | str | None) -> list[Family]:
    fams = _all_families()[modality]
    if names is None:
        return list(fams)
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    known = {f.name: f for f in fams}
    wanted: list[Any]
    try:
        wanted = list(names)
    except TypeError:
        wanted = [names]
    unknown = [n for n in wanted if not isinstance(n, str) or n not in known]
    if unknown or not wanted:
        raise ConfigError(
            f"probe: families must name {modality} families {sorted(known)}. "
            f"Received: families={echo(wanted)}"
        )
    return [known[n] for n in dict.fromkeys(wanted)]


class _Wire:
    """Modality glue: clean seeds, the naive (no-pipeline) path to the model, clean wire form."""

    def __init__(self, modality: str, shape: tuple[int, ...] | None, rate: int) -> None:
        self.modality = modality
        self.shape = shape
        self.rate = rate

    def seeds(self, seed: int) -> list[Any]:
        if self.modality == "text":
            from keras_sanitize.fuzzing._text import phrases

            return list(phrases()["benign"])
        assert self.shape is not None
        if self.modality == "image":
            from keras_sanitize.fuzzing._image import clean_images

            return clean_images(self.shape, seed=seed)  # type: ignore[arg-type]
        if self.modality == "audio":
            from keras_sanitize.fuzzing._audio import clean_audio

            return clean_audio(self.shape[0], self.rate, seed=seed)
        from keras_sanitize.fuzzing._tensor import clean_tensors

        return clean_tensors(self.shape, seed=seed)

    def naive(self, value: Any) -> Any:
        """The model input a deployment without a pipeline would build (may raise: a decode error)."""
        if self.modality == "text":
            return value
        if self.modality == "image":
            from keras_sanitize.fuzzing._image import decode_naive

            assert self.shape is not None
            if isinstance(value, bytes):
                return decode_naive(value, self.shape)
            arr = np.asarray(value)
            if arr.shape != self.shape:
                from PIL import Image

                im = Image.fromarray(arr.astype(np.uint8).squeeze())
                arr = np.asarray(im.resize((self.shape[1], self.shape[0])), np.uint8).reshape(self.shape)
            return arr.astype(np.float32) / 255.0
        if self.modality == "audio":
            from keras_sanitize.fuzzing._audio import decode_naive as decode_audio

            assert self.shape is not None
            if isinstance(value, bytes):
                return decode_audio(value, self.shape[0])
            return np.asarray(value, np.float32)
        return np.asarray(value)

    def clean_wire(self, clean: Any) -> Any:
        """The clean input as the pipeline receives it (audio: a WAV file)."""
        if self.modality == "audio":
            from keras_sanitize.audio import synth

            return synth.encode(np.clip(clean, -1, 1), self.rate, "WAV", "PCM_16")
        return clean


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


def _check_kwargs(
    limits: ProbeLimits, budget: int, samples: Any, input_shape: Any, sample_rate: Any, epsilons: Any
) -> tuple[tuple[int, ...] | None, tuple[float, ...] | None]:
    if budget > limits.max_budget:
        raise ConfigError(
            f"probe: budget must be at most {limits.max_budget} (ProbeLimits.max_budget). "
            f"Received: budget={budget}"
        )
    if samples is not None and (
        isinstance(samples, (str, bytes))
        or not isinstance(samples, Sequence)
        or len(samples) > limits.max_samples
    ):
        raise ConfigError(
            f"probe: samples must be a sequence of at most {limits.max_samples} clean inputs. "
            f"Received: samples={echo(samples)}"
        )
    shape = None
    if input_shape is not None:
        try:
            shape = tuple(int(d) for d in input_shape)
            ok = all(d > 0 and not isinstance(d, bool) for d in input_shape) and 0 < len(shape) <= 4
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok or math.prod(shape or ()) > limits.max_input_elements:
            raise ConfigError(
                f"probe: input_shape must be 1-4 positive sizes with at most "
                f"{limits.max_input_elements} elements. Received: input_shape={echo(input_shape)}"
            )
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or not 1000 <= sample_rate <= 384000:
        raise ConfigError(
            f"probe: sample_rate must be an int in [1000, 384000]. Received: sample_rate={sample_rate!r}"
        )
    eps = None
    if epsilons is not None:
        try:
            eps = tuple(float(e) for e in epsilons)
        except (TypeError, ValueError):
            eps = None
        if not eps or not all(0 < e <= 1 for e in eps) or len(eps) > 64:
            raise ConfigError(
                f"probe: epsilons must be 1-64 numbers in (0, 1]. Received: epsilons={echo(epsilons)}"
            )
    return shape, eps


def _clean_samples(modality: str, samples: Sequence[Any], shape: tuple[int, ...] | None) -> list[Any]:
    """The user's clean seeds, checked: texts; uint8 images of the model's shape; finite 1-D audio
    (cut or padded to the model's length); finite numeric arrays of the model's shape."""
    rule = {
        "text": "strings",
        "image": f"uint8 arrays of shape {shape}",
        "audio": "finite 1-D float arrays",
        "tensor": f"finite numeric arrays of shape {shape}",
    }[modality]
    out: list[Any] = []
    for i, item in enumerate(samples):
        ok = False
        value: Any = item
        if modality == "text":
            ok = isinstance(item, str)
        elif isinstance(item, np.ndarray) and item.dtype.kind in "biuf":
            if modality == "image":
                ok = item.dtype == np.uint8 and item.shape == shape
            elif modality == "audio" and item.ndim == 1 and shape is not None:
                value = np.pad(item.astype(np.float32), (0, max(0, shape[0] - item.shape[0])))[: shape[0]]
                ok = bool(np.isfinite(value).all())
            elif modality == "tensor":
                ok = item.shape == shape and bool(np.isfinite(item).all())
        if not ok:
            raise ConfigError(
                f"probe: {modality} samples must be {rule}. Received: samples[{i}]={echo(item)}"
            )
        out.append(value)
    if not out:
        raise ConfigError("probe: samples must hold at least one clean input")
    return out


def _check_args(modality: str, budget: Any, seed: Any, canary: Any, pipeline: Any, timeout: Any) -> None:
    if not isinstance(modality, str) or modality not in MODALITIES:
        raise ConfigError(
            f"probe: modality must be one of {list(MODALITIES)}. Received: modality={echo(modality)}"
        )
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ConfigError(f"probe: budget must be a positive int. Received: budget={budget!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"probe: seed must be an int. Received: seed={seed!r}")
    if canary is not None and (not isinstance(canary, str) or not canary):
        raise ConfigError(
            f"probe: canary must be a non-empty string or None. Received: canary={canary!r:.40}"
        )
    if pipeline is not None and not isinstance(pipeline, Stage):
        raise ConfigError(
            f"probe: pipeline must be a ks.Pipeline (or stage). Received: pipeline={pipeline!r:.80}"
        )
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ConfigError(
            f"probe: timeout must be a positive number of seconds. Received: timeout={timeout!r}"
        )


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
