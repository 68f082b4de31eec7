"""ks.privacy: metrics against independent references, the LeakReport surface, inputs of every kind,
hostile arguments, LiRA, canary exposure, callbacks, plots and the CLI (fast; JAX backend)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
from pathlib import Path

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

import keras_sanitize as ks
from keras_sanitize.cli import main as cli_main
from keras_sanitize.privacy import attack_result, canary_exposure, membership_inference


def _toy(n: int = 200, seed: int = 0) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2 * n, 6)).astype("float32")
    y = rng.integers(0, 3, 2 * n)
    return (x[:n], y[:n]), (x[n:], y[n:])


def _leaky(x: np.ndarray) -> np.ndarray:
    """A "model" whose confidence in class 0 grows with the first feature (members get x0 > 0 below)."""
    z = np.stack([x[:, 0] * 2, np.zeros(len(x)), -x[:, 0]], axis=1)
    return z


# -- metrics against independent computations ------------------------------------------------


def test_auc_equals_mann_whitney_with_ties() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = np.round(rng.normal(0.3, 1, 300), 1)  # rounding makes ties
        b = np.round(rng.normal(0.0, 1, 250), 1)
        u = stats.mannwhitneyu(a, b).statistic
        assert attack_result("t", a, b).auc == pytest.approx(u / (len(a) * len(b)), abs=1e-12)


def test_tpr_at_and_advantage_by_brute_force() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(1, 1, 500), rng.normal(0, 1, 400)
    r = attack_result("t", a, b)
    thresholds = np.concatenate([a, b, [np.inf]])
    tpr = np.array([(a >= t).mean() for t in thresholds])
    fpr = np.array([(b >= t).mean() for t in thresholds])
    assert r.advantage == pytest.approx(np.max(tpr - fpr))
    for rate in (0.001, 0.01, 0.1):
        assert r.tpr_at(rate) == pytest.approx(tpr[fpr <= rate].max())
    assert r.balanced_accuracy == pytest.approx(0.5 + r.advantage / 2)


def test_bootstrap_interval_covers_the_estimate_and_shrinks_with_data() -> None:
    rng = np.random.default_rng(2)
    small = attack_result("t", rng.normal(0.5, 1, 100), rng.normal(0, 1, 100), n_bootstrap=300)
    big = attack_result("t", rng.normal(0.5, 1, 3000), rng.normal(0, 1, 3000), n_bootstrap=300)
    for r in (small, big):
        lo, hi = r.ci["auc"]
        assert lo <= r.auc <= hi
    width = lambda r: r.ci["auc"][1] - r.ci["auc"][0]  # noqa: E731
    assert width(big) < width(small) / 3


@settings(max_examples=80, deadline=None, database=None)
@given(
    hnp.arrays(np.float64, st.integers(1, 60), elements=st.floats(allow_nan=True, allow_infinity=True)),
    hnp.arrays(np.float64, st.integers(1, 60), elements=st.floats(allow_nan=True, allow_infinity=True)),
)
def test_metrics_on_arbitrary_scores(a: np.ndarray, b: np.ndarray) -> None:
    r = attack_result("t", a, b, n_bootstrap=5)
    assert 0.0 <= r.auc <= 1.0 and 0.0 <= r.advantage <= 1.0
    assert r.tpr_at(0.001) <= r.tpr_at(0.01) <= r.tpr_at(1.0) == 1.0
    json.dumps(r.to_dict(), allow_nan=False)


# -- membership_inference: inputs, outputs, report ---------------------------------------------


def test_report_surface_and_per_example_scores() -> None:
    (xm, ym), (xn, yn) = _toy()
    xm[:, 0] = np.abs(xm[:, 0])  # members: confident (leaky); non-members: anything
    report = membership_inference(_leaky, (xm, np.zeros_like(ym)), (xn, np.zeros_like(yn)), n_bootstrap=50)
    assert set(report) == {"loss", "confidence", "entropy"}
    r = report["loss"]
    assert 0.6 < r.auc < 1.0 and r.advantage > 0.2 and r.tpr_at(0.01) >= 0
    top = r.most_exposed(5)
    assert [i for i, _ in top] == list(np.argsort(-xm[:, 0])[:5])
    d = report.to_dict()
    assert d["meta"]["n_members"] == 200 and set(d["attacks"]["loss"]["tpr_at_fpr"]) == {"0.001", "0.01"}
    assert json.loads(report.to_json(scores=True))["attacks"]["loss"]["member_scores"][0] == pytest.approx(
        r.member_scores[0]
    )
    assert report.worst.auc == max(v.auc for v in report.values())
    assert "loss" in report.summary()
    with pytest.raises(KeyError, match="no attack"):
        report["lira"]


def test_logits_probabilities_one_hot_and_binary_agree() -> None:
    (xm, ym), (xn, yn) = _toy(seed=3)
    xm[:, 0] += 0.5
    logits = membership_inference(_leaky, (xm, ym), (xn, yn), n_bootstrap=0)

    def probs(x: np.ndarray) -> np.ndarray:
        z = _leaky(x)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    via_probs = membership_inference(probs, (xm, np.eye(3)[ym]), (xn, np.eye(3)[yn]), n_bootstrap=0)
    for name in ("loss", "confidence", "entropy"):
        assert via_probs[name].auc == pytest.approx(logits[name].auc, abs=1e-9)
    binary = membership_inference(lambda x: x[:, :1], (xm, (ym > 0).astype(int)), (xn, (yn > 0).astype(int)),
                                  n_bootstrap=0)
    assert 0 <= binary["loss"].auc <= 1
    assert set(logits["loss"].per_class) == {"0", "1", "2"}


def test_datasets_generators_and_pydataset_give_the_same_result() -> None:
    (xm, ym), (xn, yn) = _toy(seed=4)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)])
    arrays = membership_inference(model, (xm, ym), (xn, yn), n_bootstrap=0)

    def gen(x: np.ndarray, y: np.ndarray):  # type: ignore[no-untyped-def]
        for i in range(0, len(x), 64):
            yield x[i : i + 64], y[i : i + 64]

    class Seq(keras.utils.PyDataset):  # type: ignore[misc]
        def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
            super().__init__()
            self.x, self.y = x, y

        def __len__(self) -> int:
            return math.ceil(len(self.x) / 50)

        def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
            return self.x[i * 50 : (i + 1) * 50], self.y[i * 50 : (i + 1) * 50]

    streamed = membership_inference(model, gen(xm, ym), Seq(xn, yn), n_bootstrap=0)
    assert streamed["loss"].auc == pytest.approx(arrays["loss"].auc, abs=1e-6)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"attacks": ("nope",)}, "unknown attack"),
        ({"attacks": ()}, "non-empty"),
        ({"batch_size": 0}, "batch_size"),
        ({"n_bootstrap": -1}, "n_bootstrap"),
        ({"confidence": 2}, "confidence"),
        ({"attacks": ("lira",)}, "shadow_fn"),
        ({"from_logits": "yes"}, "from_logits"),
        ({"limits": {"max_examples": 3}}, "PrivacyLimits"),
    ],
)
def test_bad_arguments_are_config_errors(kwargs: dict[str, object], match: str) -> None:
    (xm, ym), (xn, yn) = _toy(20)
    with pytest.raises(ks.ConfigError, match=match):
        membership_inference(_leaky, (xm, ym), (xn, yn), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "members,match",
    [
        ((np.zeros((5, 6)), np.zeros(4, int)), "one label per row"),
        ((np.zeros((5, 6)), np.full(5, 7)), r"labels must be in \[0, 2\]"),
        ((np.zeros((5, 6)), np.full(5, 0.5)), "whole class indices"),
        ((np.zeros((0, 6)), np.zeros(0, int)), "needs 1 to"),
        (42, "must be an \\(x, y\\) pair"),
        (iter([]), "no batches"),
        (iter([np.zeros(3)]), "not an \\(x, y\\) pair"),
        ((np.zeros(5), np.zeros(5, int)), "the model failed"),
    ],
)
def test_bad_data_is_a_config_error(members: object, match: str) -> None:
    _, non = _toy(20)
    with pytest.raises(ks.ConfigError, match=match):
        membership_inference(_leaky, members, non, n_bootstrap=0)


def test_non_finite_model_outputs_do_not_crash() -> None:
    (xm, ym), (xn, yn) = _toy(30)
    r = membership_inference(lambda x: np.full((len(x), 3), np.nan), (xm, ym), (xn, yn), n_bootstrap=10)
    assert r["loss"].auc == pytest.approx(0.5)


def test_limits_bound_the_examples() -> None:
    (xm, ym), (xn, yn) = _toy(30)
    with pytest.raises(ks.ConfigError, match="max_examples"):
        membership_inference(_leaky, (xm, ym), (xn, yn), limits=ks.privacy.PrivacyLimits(max_examples=10))


@pytest.mark.slow  # five Keras trainings (~35 s on a busy 2-core machine)
def test_lira_on_a_memorising_model() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(160, 10)).astype("float32")
    y = rng.integers(0, 4, 160)

    def train(xs: np.ndarray, ys: np.ndarray) -> keras.Model:
        keras.utils.set_random_seed(int(xs[0, 0] * 1000) % 1000)
        m = keras.Sequential(
            [keras.Input((10,)), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(4)]
        )
        m.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        m.fit(xs, ys, epochs=40, batch_size=80, verbose=0)
        return m

    target = train(x[:80], y[:80])
    report = membership_inference(
        target, (x[:80], y[:80]), (x[80:], y[80:]), ("loss", "lira", "lira_offline"),
        shadow_fn=train, n_shadows=4, n_bootstrap=0,
    )
    print({k: round(v.auc, 3) for k, v in report.items()})
    assert report["lira"].auc > 0.8 and report["lira_offline"].auc > 0.7
    assert report.meta["n_shadows"] == 4


# -- canary exposure -------------------------------------------------------------------------------


def test_exposure_exact_rank_formula() -> None:
    # scores: the canary "0042" ranks 43rd of all 10**4 (every smaller number scores lower)
    e = canary_exposure(lambda t: float(t[-4:]), "pin {}", "0042", n_candidates=10_000)
    assert e.exact and e.rank == 43 and e.space_size == 10_000
    assert e.exposure == pytest.approx(math.log2(10_000) - math.log2(43))


def test_exposure_sampled_and_extrapolated() -> None:
    rng = np.random.default_rng(0)
    noise = {f"{i:06d}": rng.normal() for i in range(0, 1_000_000, 7)}

    def score(text: str) -> float:
        s = text[-6:]
        return -8.0 if s == "123456" else noise.get(s, rng.normal())

    e = canary_exposure(score, "pin {}", "123456", n_candidates=3000, seed=1)
    assert not e.exact and e.rank == 1
    assert e.exposure == pytest.approx(math.log2(3001), abs=0.01)
    assert e.extrapolated > e.exposure  # the fitted tail reaches beyond the sample
    middling = canary_exposure(score, "pin {}", "000007", n_candidates=3000, seed=1)
    assert middling.exposure < 4


def test_exposure_arguments() -> None:
    for bad in ({"canary_format": "no hole"}, {"inserted": "12a"}, {"n_candidates": 0}, {"alphabet": "a"}):
        args = {"canary_format": "pin {}", "inserted": "1234", **bad}
        with pytest.raises(ks.ConfigError):
            canary_exposure(lambda t: 0.0, **args)  # type: ignore[arg-type]
    with pytest.raises(ks.ConfigError, match="scorer failed"):
        canary_exposure(lambda t: 1 / 0, "pin {}", "1234")
    with pytest.raises(ks.ConfigError):
        canary_exposure(object(), "pin {}", "1234")


def test_canary_helpers() -> None:
    text, secret = ks.privacy.make_canary("key {}", alphabet="abcdef", length=8, seed=3)
    assert text == f"key {secret}" and set(secret) <= set("abcdef")
    data = ks.privacy.insert_canaries(["x"] * 10, text, 5, seed=1)
    assert len(data) == 15 and data.count(text) == 5


# -- callbacks -------------------------------------------------------------------------------------


def test_membership_callback_logs_and_drives_early_stopping() -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(size=(200, 8)).astype("float32")
    y = rng.integers(0, 5, 200)
    keras.utils.set_random_seed(6)
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(5)]
    )
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    cb = ks.privacy.MembershipInferenceCallback((x[:100], y[:100]), (x[100:], y[100:]), attacks=("loss",
                                                                                                  "entropy"))
    stop = keras.callbacks.EarlyStopping(monitor="mia_loss_auc", mode="min", patience=0, baseline=0.7)
    hist = model.fit(x[:100], y[:100], epochs=60, batch_size=50, verbose=0, callbacks=[cb, stop])
    aucs = hist.history["mia_loss_auc"]
    assert {"mia_loss_tpr_at_1pct_fpr", "mia_entropy_auc"} <= set(hist.history)
    assert len(aucs) < 60 and aucs[-1] >= 0.7  # memorising pushed the AUC past the baseline: stopped


def test_exposure_callback_logs() -> None:
    from _privacy_check import CANARY_FORMAT, CANARY_SECRET, WINDOW, encode

    model = keras.Sequential([keras.Input((WINDOW,), dtype="int32"), keras.layers.Embedding(38, 4),
                              keras.layers.Flatten(), keras.layers.Dense(38)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    cb = ks.privacy.ExposureCallback(CANARY_FORMAT, CANARY_SECRET, encode=encode, window=WINDOW,
                                     n_candidates=200)
    x = np.zeros((8, WINDOW), "int32")
    hist = model.fit(x, np.zeros(8, "int32"), epochs=2, verbose=0, callbacks=[cb])
    assert len(hist.history["exposure"]) == 2 and "exposure_extrapolated" in hist.history
    assert 0 <= hist.history["exposure"][-1] <= math.log2(201) + 1e-9


# -- plots, HTML, CLI ----------------------------------------------------------------------------------


def test_plot_and_html(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib (the privacy extra) is not installed")
    (xm, ym), (xn, yn) = _toy()
    xm[:, 0] += 1
    report = membership_inference(_leaky, (xm, ym), (xn, yn), n_bootstrap=20)
    report.plot_roc(tmp_path / "roc.png")
    assert (tmp_path / "roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = report.to_html(tmp_path / "r.html").read_text("utf-8")
    assert "data:image/png;base64," in page and "TPR@1%FPR" in page


def test_cli_privacy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (xm, ym), (xn, yn) = _toy(100)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)])
    model.save(tmp_path / "m.keras")
    np.savez(tmp_path / "m.npz", x=xm, y=ym)
    np.savez(tmp_path / "n.npz", x=xn, y=yn)
    out = tmp_path / "leak"
    code = cli_main(["privacy", str(tmp_path / "m.keras"), "--members", str(tmp_path / "m.npz"),
                     "--non-members", str(tmp_path / "n.npz"), "--out", str(out), "--bootstrap", "20"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "loss" in printed and "100 members" in printed
    data = json.loads((out / "report.json").read_text())
    assert set(data["attacks"]) == {"loss", "confidence", "entropy"}
    assert (out / "report.html").exists()
    np.savez(tmp_path / "bad.npz", a=xm)
    assert cli_main(["privacy", str(tmp_path / "m.keras"), "--members", str(tmp_path / "bad.npz"),
                     "--non-members", str(tmp_path / "n.npz"), "--out", str(out)]) == 2
    (tmp_path / "fake.keras").write_bytes(b"not a model")
    assert cli_main(["privacy", str(tmp_path / "fake.keras"), "--members", str(tmp_path / "m.npz"),
                     "--non-members", str(tmp_path / "n.npz"), "--out", str(out)]) == 2


@pytest.mark.slow  # trains two models in a fresh process (~50 s on a busy 2-core machine)
def test_demo_section_runs() -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(root)}
    proc = subprocess.run([sys.executable, str(root / "examples" / "demo_privacy.py")], capture_output=True,
                          text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    memorised = next(ln for ln in lines if "memorised random labels" in ln)
    assert " refused " in memorised
    assert " accepted " in next(ln for ln in lines if "early-stopped" in ln)
    assert "[EMAIL], call [PHONE], card [CARD]" in proc.stdout and "[SYSTEM_PROMPT]" in proc.stdout


_anything = st.one_of(
    st.none(), st.integers(), st.floats(), st.text(max_size=20), st.binary(max_size=20),
    st.lists(st.integers(), max_size=5), st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
    hnp.arrays(np.float64, hnp.array_shapes(max_dims=3, max_side=5), elements=st.floats(allow_nan=True)),
    st.tuples(
        hnp.arrays(np.float32, hnp.array_shapes(max_dims=2, max_side=6), elements=st.floats(-9, 9, width=32)),
        hnp.arrays(np.int64, hnp.array_shapes(max_dims=2, max_side=6), elements=st.integers(-3, 5)),
    ),
)


@settings(max_examples=120, deadline=None, database=None)
@given(_anything, _anything, _anything)
def test_membership_inference_on_hostile_arguments(
    members: object, non_members: object, attacks: object
) -> None:
    def model(x: object) -> np.ndarray:
        arr = np.asarray(x, dtype=np.float64)
        return np.tanh(arr.reshape(len(arr), -1)[:, :3]) if arr.ndim else arr

    try:
        r = membership_inference(model, members, non_members, n_bootstrap=3)
    except ks.SanitizeError:
        return
    json.dumps(r.to_dict(), allow_nan=False)
    with contextlib.suppress(ks.SanitizeError):
        membership_inference(model, members, non_members, attacks=attacks, n_bootstrap=0)  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None, database=None)
@given(st.text(max_size=30), st.text(max_size=12), st.text(max_size=12), st.integers(-5, 50))
def test_canary_exposure_on_hostile_arguments(fmt: str, secret: str, alphabet: str, n: int) -> None:
    try:
        e = canary_exposure(lambda t: float(len(t) % 7), fmt, secret, alphabet=alphabet, n_candidates=n)
    except ks.SanitizeError:
        return
    assert e.exposure >= 0 and 1 <= e.rank <= e.n_candidates + 1
    json.dumps(e.to_dict())


def test_tf_data_dataset() -> None:
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("tensorflow is not installed (tf.data inputs need it; the other input kinds are tested)")
    import tensorflow as tf

    (xm, ym), (xn, yn) = _toy(seed=8)
    xm[:, 0] += 0.5
    arrays = membership_inference(_leaky, (xm, ym), (xn, yn), n_bootstrap=0)
    ds_m = tf.data.Dataset.from_tensor_slices((xm, ym)).batch(64)
    ds_n = tf.data.Dataset.from_tensor_slices((xn, yn)).batch(64)
    streamed = membership_inference(_leaky, ds_m, ds_n, n_bootstrap=0)
    assert streamed["loss"].auc == pytest.approx(arrays["loss"].auc, abs=1e-9)


@settings(max_examples=100, deadline=None, database=None)
@given(_anything, _anything, st.integers(-3, 40), st.one_of(st.none(), st.integers(0, 5)))
def test_canary_helpers_on_hostile_arguments(fmt: object, texts: object, n: int, seed: int | None) -> None:
    try:
        text, secret = ks.privacy.make_canary(fmt, length=n, seed=seed)  # type: ignore[arg-type]
    except ks.SanitizeError:
        text, secret = "pin 123456", "123456"
    assert secret in text
    try:
        out = ks.privacy.insert_canaries(texts, text, n, seed=seed)  # type: ignore[arg-type]
    except ks.SanitizeError:
        return
    assert out.count(text) >= n


def test_loss_and_confidence_share_one_ranking() -> None:
    (xm, ym), (xn, yn) = _toy(seed=9)
    xm[:, 0] += 0.3
    both = membership_inference(_leaky, (xm, ym), (xn, yn), ("confidence", "loss"), n_bootstrap=50)
    alone = membership_inference(_leaky, (xm, ym), (xn, yn), ("loss",), n_bootstrap=50)
    assert both["confidence"].auc == both["loss"].auc == alone["loss"].auc
    assert both["confidence"].ci == both["loss"].ci == alone["loss"].ci
    np.testing.assert_array_equal(both["confidence"].tpr, both["loss"].tpr)
