"""Demo section: model files checked before Keras loads them (pin, scan, safe load).

Every file is built in-process in a temporary directory; the hostile ones carry
payloads that would only create a marker file, and the demo checks it never appears.
"""

from __future__ import annotations

import pathlib
import tempfile

import numpy as np
from _demo import Case, case_from_report, run_alone

import keras_sanitize as ks
from keras_sanitize.artifacts import _fixtures as fx


def _load_case(label: str, path: pathlib.Path, sha256: str | None = None) -> Case:
    try:
        model = ks.load_model(path, sha256=sha256)
    except ks.ArtifactError as exc:
        assert exc.report is not None
        return case_from_report(label, exc.report)
    case = case_from_report(label, ks.artifacts.scan(path))
    out = model.predict(np.ones((1, 4), np.float32), verbose=0)
    probs = np.round(out[0], 3).tolist()
    case.findings.append(f"ks.load_model -> {type(model).__name__}, predict -> {probs}")
    return case


def section() -> tuple[str, list[Case]]:
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="demo_artifacts_"))
    clean = fx.write_keras(tmp / "clean.keras", fx.clean_parts())
    pin = ks.artifacts.sha256(clean)
    markers = []
    cases = [
        _load_case("a clean .keras model, pinned sha256", clean, pin),
        _load_case("the same model, wrong pinned sha256", clean, "0" * 64),
    ]
    hostile = {
        "a Lambda layer carrying bytecode": fx.lambda_bytecode,
        "a bytecode Lambda two models deep": fx.nested_lambda,
        "a zip-slip archive (../ and /abs members)": fx.zip_slip,
        "builtins.exec as a kernel initializer": fx.exec_initializer,
        "a pickle renamed model.keras": fx.pickle_renamed,
        "weights with an HDF5 external link": fx.hdf5_external_link,
    }
    for label, build in hostile.items():
        marker = tmp / f"marker_{build.__name__}"
        markers.append(marker)
        cases.append(_load_case(label, build(tmp, marker)))
    ran = [m.name for m in markers if m.exists()]
    if ran:  # pragma: no cover - would be a security bug
        raise AssertionError(f"payloads ran: {ran}")
    return "artifacts: ks.load_model(path, sha256=...) = pin + scan + keras load(safe_mode=True)", cases


if __name__ == "__main__":
    raise SystemExit(run_alone(section))
