"""ks.privacy and ks.text.outputs: leak-test cost, output-scanning cost, PII quality vs Presidio.

Rows:
* membership_inference (loss+confidence+entropy, 200 bootstrap resamples) over 10k members +
  10k non-members on a small CNN, against one ``model.predict`` over the same 20k;
* ks.text.outputs.default() on 1 KB of model text, against ``nh3.clean`` of the same;
* precision / recall per entity type on a synthetic PII set (tests/_pii_data.py), against
  Presidio's pattern recognizers when presidio-analyzer is installed (the ``presidio`` extra).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")

from _harness import Row, compare

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

_PRESIDIO = {
    "email": "EMAIL_ADDRESS",
    "phone": "PHONE_NUMBER",
    "card": "CREDIT_CARD",
    "iban": "IBAN_CODE",
    "ip_address": "IP_ADDRESS",
}
MODEL_TEXT = (
    "Thanks for reaching out! I checked your account and the refund was issued on March 3. "
    "If it has not arrived within five business days, reply to this message or write to "
    "support@example.com and mention ticket 48213. You can also call us at +1 415 555 2671 "
    "between 9am and 5pm Pacific time. For security reasons we never ask for your full card "
    "number or password by e-mail. Here is a summary of what we changed: the billing address "
    "now matches the one on file, the duplicate charge was reversed, and the subscription "
    "renews on the 14th. Let me know if there is anything else I can help with today; "
    "otherwise I will close this conversation in 24 hours. Have a great week ahead and "
    "thank you for being a customer since 2019. Kind regards, the support team. "
)[:1024]


def _cnn() -> Any:
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((16, 16, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10),
        ]
    )


def _mia_rows() -> list[Row]:
    import numpy as np

    import keras_sanitize as ks

    rng = np.random.default_rng(0)
    x = rng.random((20_000, 16, 16, 1), dtype=np.float32)
    y = rng.integers(0, 10, 20_000)
    model = _cnn()
    members, non_members = (x[:10_000], y[:10_000]), (x[10_000:], y[10_000:])
    rows = [compare(
        "privacy",
        "membership_inference 10k+10k, small CNN, 3 attacks + 200 bootstrap",
        lambda: ks.privacy.membership_inference(model, members, non_members, batch_size=256),
        "model.predict over the 20k",
        lambda: model.predict(x, batch_size=256, verbose=0),
        goal="≤ 2x",
        repeat=2,
    )]
    rows.append(compare(
        "privacy",
        "the same without bootstrap intervals (n_bootstrap=0)",
        lambda: ks.privacy.membership_inference(model, members, non_members, batch_size=256, n_bootstrap=0),
        "model.predict over the 20k",
        lambda: model.predict(x, batch_size=256, verbose=0),
        repeat=2,
    ))
    return rows


def _scan_row() -> Row:
    import nh3

    import keras_sanitize as ks

    pipe = ks.text.outputs.default(secrets=["sk-internal-4f9a-prod"], canaries=["my pin is 582931"])
    assert pipe.run(MODEL_TEXT).ok
    return compare(
        "privacy",
        "text.outputs.default() on 1 KB of model text",
        lambda: pipe.run(MODEL_TEXT),
        "nh3.clean",
        lambda: nh3.clean(MODEL_TEXT),
        goal="≤ 5x",
    )


def _presidio() -> Any:
    """Presidio's analyzer with its pattern recognizers on a blank spaCy pipeline (no model download)."""
    import spacy
    import tldextract
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    # tldextract fetches the public-suffix list at first use; use the snapshot it ships (no network).
    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=())

    class BlankEngine(SpacyNlpEngine):  # type: ignore[misc]
        def load(self) -> None:
            self.nlp = {"en": spacy.blank("en")}

    engine = BlankEngine(models=[{"lang_code": "en", "model_name": "blank"}])
    engine.load()
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers(nlp_engine=engine)
    return AnalyzerEngine(nlp_engine=engine, registry=registry, supported_languages=["en"])


def _pii_rows() -> list[Row]:
    import _pii_data as P

    import keras_sanitize as ks

    data = P.dataset(1000, seed=7)
    gold = [g for _, g in data]
    stage = ks.text.outputs.PIIRedactor()
    for text, _ in data[:100]:  # warm-up: phonenumbers loads each region's metadata on first use
        stage.run(text)
    start = time.perf_counter()
    ours = [[(f.detail["entity"], *f.span) for f in stage.run(t).findings] for t, _ in data]  # type: ignore[misc]
    ours_s = (time.perf_counter() - start) / len(data)
    ours_pr = P.score(gold, ours)
    theirs_pr: dict[str, tuple[float, float]] | None = None
    theirs_s: float | None = None
    why = ""
    try:
        analyzer = _presidio()
    except ImportError:
        why = "presidio-analyzer is not installed (pip install 'keras-sanitize[presidio]')"
    else:
        back = {v: k for k, v in _PRESIDIO.items()}
        for text, _ in data[:100]:
            analyzer.analyze(text, language="en", entities=list(_PRESIDIO.values()))
        start = time.perf_counter()
        found = []
        for text, _ in data:
            res = analyzer.analyze(text, language="en", entities=list(_PRESIDIO.values()))
            found.append([(back[r.entity_type], r.start, r.end) for r in res])
        theirs_s = (time.perf_counter() - start) / len(data)
        theirs_pr = P.score(gold, found)
    rows = []
    for entity in P.ENTITIES:
        p, r = ours_pr[entity]
        note = f"ours P={p:.3f} R={r:.3f}"
        if theirs_pr is not None:
            tp, tr = theirs_pr[entity]
            verdict = "met" if p >= tp and r >= tr else "NOT met"
            note += f"; presidio P={tp:.3f} R={tr:.3f} ({verdict})"
        else:
            note += f"; presidio not measurable here: {why}"
        rows.append(Row("privacy", f"PII {entity}, {len(data)} synthetic texts", ours_s,
                        "presidio (patterns, blank spaCy)" if theirs_s else "", theirs_s, note,
                        "≥ Presidio P and R"))
    return rows


def run() -> list[Row]:
    """The privacy benchmark rows."""
    return [*_mia_rows(), _scan_row(), *_pii_rows()]


if __name__ == "__main__":
    from _harness import render

    print(render(run()))
