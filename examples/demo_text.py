"""Demo section: untrusted prompts through ``ks.text.default()`` before a text model sees them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from _demo import Case, case_from_report, run_alone

import keras_sanitize as ks
from keras_sanitize.findings import echo

DATA = Path(__file__).resolve().parent / "data" / "text" / "inputs.json"


def _value(item: dict[str, Any]) -> Any:
    if "bytes_hex" in item:
        return bytes.fromhex(item["bytes_hex"])
    if "json" in item:
        return item["json"]
    # JSON can only spell astral characters as surrogate pairs; join them into real characters.
    return item["text"].encode("utf-16", "surrogatepass").decode("utf-16")


def section() -> tuple[str, list[Case]]:
    pipe = ks.text.default()
    cases = []
    for item in json.loads(DATA.read_text(encoding="utf-8"))["inputs"]:
        report = pipe.run(_value(item))
        case = case_from_report(item["label"], report)
        if report.ok and report.value != _value(item):
            case.findings.append(f"model sees: {echo(report.value, 70)}")
        cases.append(case)
    return "text: ks.text.default() in front of a text model", cases


if __name__ == "__main__":
    raise SystemExit(run_alone(section))
