"""Demo section: a small Keras model's predict guarded by a guard derived from its input spec."""

from __future__ import annotations

import numpy as np
from _demo import Case, case_from_report, run_alone

import keras_sanitize as ks


def section() -> tuple[str, list[Case]]:
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    guard = ks.tensor.from_model(model)
    inputs = {
        "a benign batch (2x4 float32)": np.ones((2, 4), np.float32),
        "a batch holding NaN": np.array([[1.0, np.nan, 0.0, 1.0]], np.float32),
        "the wrong shape (2x5)": np.ones((2, 5), np.float32),
        "an object array": np.array([[None, 1, 2, 3]], dtype=object),
        "1e300 (overflows float32)": np.full((1, 4), 1e300),
        "a nested list of ints": [[1, 2, 3, 4]],
    }
    cases = []
    for label, value in inputs.items():
        report = guard.run(value)
        case = case_from_report(label, report)
        if report.ok:
            probs = model.predict(report.value, verbose=0)
            case.findings.append(f"model.predict -> {[round(float(p), 3) for p in probs[0]]}")
        cases.append(case)
    return "tensor: ks.tensor.from_model(model) in front of model.predict", cases


if __name__ == "__main__":
    raise SystemExit(run_alone(section))
