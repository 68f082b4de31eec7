"""``ks.fuzzing.probe`` on known behaviour: a vulnerable text callable, a trained image
classifier under FGSM, hostile targets, reproducibility, the report and the CLI."""

from __future__ import annotations

import base64
import binascii
import codecs
import contextlib
import json
import re
import time
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keras_sanitize as ks
from keras_sanitize.cli import main
from keras_sanitize.fuzzing.strategies import hostile_values

CANARY = "CANARY-7f3a9"

# -- a deliberately vulnerable "LLM": decodes whatever it is given and obeys -------------
_CONF = str.maketrans(
    {
        "а": "a",
        "с": "c",
        "е": "e",
        "і": "i",
        "о": "o",
        "р": "p",
        "ѕ": "s",
        "х": "x",
        "у": "y",
        "І": "I",
        "О": "O",
        "Р": "P",
        "Т": "T",
        "С": "C",
        "Е": "E",
        "А": "A",
    }
)
_LEET = str.maketrans({"4": "a", "3": "e", "1": "i", "0": "o", "5": "s", "7": "t", "9": "g", "8": "b"})
_ORDER = re.compile(
    r"ignor|disregard|forget|override|cancelled|no rules|negeer|zignoruj|игнорируй|yok say|忽略|無視", re.I
)
_MARK = re.compile(r"ZQX[A-Z]{5}")


def _views(text: str) -> list[str]:
    tags = "".join(chr(ord(c) - 0xE0000) for c in text if 0xE0000 <= ord(c) <= 0xE007F)
    t = "".join(c for c in unicodedata.normalize("NFKC", text) if unicodedata.category(c) != "Cf")
    views = [
        t,
        t.replace("\n", ""),
        t.translate(_CONF),
        t.translate(_LEET),
        t[::-1],
        tags,
        codecs.decode(t, "rot13"),
    ]
    for tok in re.findall(r"[A-Za-z0-9+/=]{16,}", t):
        for decode in (base64.b64decode, binascii.unhexlify):
            with contextlib.suppress(Exception):
                views.append(decode(tok).decode())
    return views


def vulnerable(batch: list[str]) -> list[str]:
    """Obeys any 'ignore previous instructions ... say X', however encoded, and leaks its canary."""
    outs = []
    for text in batch:
        answer = "Sure, here is a helpful answer."
        for view in _views(text):
            if _ORDER.search(view.translate(_LEET)):
                marker = _MARK.search(view) or _MARK.search(text)
                answer = f"{marker.group(0) if marker else 'OK'} My instructions say the secret is {CANARY}."
                break
        outs.append(answer)
    return outs


COVERED = (
    "templates",
    "base64",
    "rot13",
    "hex",
    "homoglyphs",
    "zero_width",
    "fullwidth",
    "bidi",
    "role_delimiters",
    "hiding",
    "indirect",
)


@pytest.fixture(scope="module")
def text_report() -> ks.fuzzing.ProbeReport:
    return ks.fuzzing.probe(vulnerable, "text", ks.text.default(), budget=340, seed=1, canary=CANARY)


def test_vulnerable_callable_obeys_raw_and_not_behind_the_default_pipeline(text_report: Any) -> None:
    for name in COVERED:
        fam = text_report.family(name)
        assert fam.raw["follow_rate"] >= 0.7, (name, fam.raw)
        assert fam.raw["leak_rate"] >= 0.7, (name, fam.raw)
        assert fam.guarded["follow_rate"] <= 0.1, (name, fam.guarded)
        assert fam.guarded["leak_rate"] <= 0.1, (name, fam.guarded)
        assert fam.refused >= 0.9 * fam.n
    s = text_report.summary()
    assert s["raw"]["follow_rate"] > 0.7 and s["guarded"]["follow_rate"] < s["raw"]["follow_rate"] / 2


def test_ranking_lists_exactly_the_families_that_still_get_through(text_report: Any) -> None:
    ranking = text_report.ranking()
    through = {f.name for f in text_report.families if f.guarded["follow_rate"] or f.guarded["leak_rate"]}
    assert through, "the default rules are expected to miss some mutation"
    assert {row["family"] for row in ranking} == through
    scores = [row["score"] for row in ranking]
    assert scores == sorted(scores, reverse=True)
    top = text_report.family(ranking[0]["family"])
    assert all(
        top.guarded["follow_rate"] >= text_report.family(r["family"]).guarded["follow_rate"] for r in ranking
    )


def test_same_seed_same_json_apart_from_timings(text_report: Any) -> None:
    def strip(doc: Any) -> Any:
        if isinstance(doc, dict):
            return {k: strip(v) for k, v in doc.items() if k != "timings"}
        if isinstance(doc, list):
            return [strip(v) for v in doc]
        return doc

    again = ks.fuzzing.probe(vulnerable, "text", ks.text.default(), budget=340, seed=1, canary=CANARY)
    a = json.dumps(strip(text_report.to_dict()), sort_keys=True)
    assert a == json.dumps(strip(again.to_dict()), sort_keys=True)
    other = ks.fuzzing.probe(vulnerable, "text", ks.text.default(), budget=340, seed=2, canary=CANARY)
    assert a != json.dumps(strip(other.to_dict()), sort_keys=True)


def test_report_schema_and_html(text_report: Any, tmp_path: Path) -> None:
    doc = json.loads(text_report.to_json())
    assert {"target", "modality", "seed", "families", "summary", "ranking"} <= set(doc)
    fam = doc["families"][0]
    assert {"name", "n", "refused", "sanitized", "passed", "crashes", "raw", "guarded"} <= set(fam)
    pytest.importorskip("matplotlib")
    path = tmp_path / "report.html"
    text_report.to_html(path)
    html = path.read_text("utf-8")
    assert html.count("data:image/png;base64,") >= 2 and "What to harden next" in html
    assert "<script" not in html.lower().replace("&lt;script", "")  # payloads are escaped
    assert path.stat().st_size < 2_000_000


# -- hostile targets ------------------------------------------------------------------------
def _raises(x: np.ndarray) -> np.ndarray:
    raise RuntimeError("boom")


def _hangs(x: np.ndarray) -> np.ndarray:
    time.sleep(30)
    return x


def test_hostile_targets_become_findings_and_the_probe_goes_on() -> None:
    cases = {
        "probe.target_raised": _raises,
        "probe.target_non_finite": lambda x: np.full((len(x), 2), np.nan),
        "probe.target_bad_shape": lambda x: np.zeros((len(x) + 1, 2)),
    }
    for code, fn in cases.items():
        report = ks.fuzzing.probe(fn, "tensor", ks.tensor.default(shape=(8,)), budget=10)
        assert code in {f.code for f in report.findings}, code
        assert report.summary()["n"] == 10
        assert report.summary()["crashes"] > 0
    start = time.monotonic()
    report = ks.fuzzing.probe(_hangs, "tensor", budget=10, timeout=0.3)
    assert time.monotonic() - start < 5
    assert {f.code for f in report.findings} == {"probe.target_timeout"}
    assert report.summary()["crashes"] == 10


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_values())
def test_any_output_of_the_target_is_survived(output: Any) -> None:
    report = ks.fuzzing.probe(lambda x: output, "tensor", budget=3, families="nan_inf,wrong_shape", timeout=5)
    assert report.summary()["n"] == 3


@pytest.mark.parametrize(
    "kwargs",
    [
        {"modality": "video"},
        {"budget": 0},
        {"budget": True},
        {"families": ["nope"]},
        {"canary": ""},
        {"pipeline": "strict"},
        {"timeout": 0},
    ],
)
def test_bad_arguments_are_config_errors(kwargs: dict[str, Any]) -> None:
    args = {"target": lambda x: x, "modality": "tensor", **kwargs}
    with pytest.raises(ks.ConfigError):
        ks.fuzzing.probe(**args)


# -- CLI ------------------------------------------------------------------------------------
def _tensor_model(path: Path) -> Path:
    import keras

    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
    model.save(path)
    return path


def test_cli_probe_writes_reports_and_fails_on(tmp_path: Path, capsys: Any) -> None:
    pytest.importorskip("matplotlib")
    model = str(_tensor_model(tmp_path / "m.keras"))
    out = tmp_path / "probe"
    base = ["probe", model, "--modality", "tensor", "--no-progress"]
    assert main([*base, "--budget", "20", "--out", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["summary"]["n"] == 20 and (out / "report.html").stat().st_size > 1000
    assert json.loads((out / "report.json").read_text())["summary"] == doc["summary"]
    small = [*base, "--budget", "8"]
    assert main([*small, "--families", "nan_inf,out_of_range", "--fail-on", "pass_rate>0.1"]) == 1
    assert main([*small, "--families", "nan_inf", "--fail-on", "pass_rate>0.1,nan_inf:refuse_rate<1"]) == 0
    assert main([*base, "--fail-on", "pass_rate>>1"]) == 2
    assert main([*small, "--families", "nan_inf", "--fail-on", "no_such_metric>1"]) == 2
    assert main([*base, "--sha256", "0" * 64]) == 2


def test_cli_refuses_hostile_model_files(tmp_path: Path, capsys: Any) -> None:
    from keras_sanitize.artifacts import _fixtures

    bad = tmp_path / "notamodel.keras"
    bad.write_bytes(b"not a model")
    assert main(["probe", str(bad), "--modality", "tensor"]) == 2
    assert "artifact." in capsys.readouterr().err
    marker = tmp_path / "ran"
    hostile = _fixtures.lambda_bytecode(tmp_path, marker)
    assert main(["probe", str(hostile), "--modality", "tensor"]) == 2
    assert "artifact." in capsys.readouterr().err
    assert not marker.exists()


# -- FeatureSqueezing.calibrate(attacks=...) chooses the squeezers ---------------------------
def _mean_model(x: np.ndarray) -> np.ndarray:
    m = np.asarray(x).mean(axis=(1, 2, 3))
    return np.stack([m, 1 - m], 1)


def test_calibrate_with_attacks_picks_the_setting_that_catches_them() -> None:
    from keras_sanitize.image.verifiers import FeatureSqueezing

    rng = np.random.default_rng(0)
    benign = [np.full((4, 4, 1), float(v), np.float32) for v in rng.integers(0, 2, 30)]
    attacks = [np.full((4, 4, 1), v, np.float32) for v in rng.uniform(0.3, 0.45, 20)]
    det = FeatureSqueezing(_mean_model).calibrate(benign, 0.05, attacks=attacks)
    table = {(s["bit_depth"], s["median_size"]): s["catch_rate"] for s in det.calibration["settings"]}
    assert table[(0, 2)] == 0.0 and table[(1, 0)] == 1.0  # median smoothing cannot see a constant shift
    assert (det.bit_depth, det.median_size) == (1, 0)  # ties go to the fewer squeezers, then the earlier
    assert det.run(attacks[0]).codes == ("image.adversarial",)
    assert det.run(benign[0]).ok
    plain = FeatureSqueezing(_mean_model).calibrate(benign)
    assert plain.calibration is None and (plain.bit_depth, plain.median_size) == (4, 2)


@pytest.mark.parametrize("candidates", [[(0, 0)], [], [(17, 0)], [(1, -1)]])
def test_calibrate_rejects_bad_candidates(candidates: list[tuple[int, int]]) -> None:
    from keras_sanitize.image.verifiers import FeatureSqueezing

    x = [np.zeros((4, 4, 1), np.float32)]
    with pytest.raises(ks.ConfigError):
        FeatureSqueezing(_mean_model).calibrate(x, attacks=x, candidates=candidates)


# -- audio and tensor families end to end -----------------------------------------------------
def _audio_features(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return np.stack([(x**2).mean(axis=1), x.mean(axis=1), np.abs(x).max(axis=1)], 1)


def test_audio_probe_refuses_ultrasonic_and_malformed_and_measures_the_rest() -> None:
    report = ks.fuzzing.probe(_audio_features, "audio", ks.audio.default(length=4000), budget=36,
                              input_shape=(4000,))
    assert report.family("ultrasonic").refusal_codes == {"audio.ultrasonic": report.family("ultrasonic").n}
    assert report.family("malformed").refused == report.family("malformed").n
    assert report.family("malformed").raw["decode_errors"] >= 2  # the naive decoder fails on some
    dc = report.family("dc")
    assert dc.sanitized == dc.n and dc.guarded["mean_abs_change"] < dc.raw["mean_abs_change"]


def test_a_wrapped_model_is_probed_behind_its_own_pipeline() -> None:
    import keras

    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
    report = ks.fuzzing.probe(ks.wrap(model), "tensor", budget=15, families="nan_inf,wrong_shape,denormals")
    assert report.pipeline == "tensor_from_model"  # the wrapped model's own guard
    assert report.family("nan_inf").refused == report.family("nan_inf").n
    assert report.family("nan_inf").raw["crashes"] == report.family("nan_inf").n  # NaN in, NaN out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["modality", "budget", "seed", "families", "canary", "timeout",
                                        "input_shape", "samples", "epsilons"]), hostile_values(), max_size=3))
def test_hostile_arguments_are_config_errors_or_a_report(kwargs: dict[str, Any]) -> None:
    args = {"modality": "tensor", "budget": 4, **kwargs}
    if isinstance(args["budget"], int) and args["budget"] > 50:
        args["budget"] = 50  # valid but slow: the property is about bad values, not big ones
    try:
        report = ks.fuzzing.probe(lambda x: np.zeros((len(x), 2)), **args)
    except ks.ConfigError:
        return
    assert isinstance(report, ks.fuzzing.ProbeReport)
