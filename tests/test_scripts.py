"""scripts/: the injection templates are data files, and the generator reproduces the training data."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"

#: sha256 of json.dumps(texts, ensure_ascii=False) for the generator's default calls: the
#: exact synthetic data the shipped injection model was trained on (recorded from the
#: generator before its templates moved out of Python into scripts/injection_templates/).
TRAINED_ON = {
    "benign_chat": (3000, "6a9b49ea38006f56374deed2ed66ff31c38f36a4b72ec6180e7a6e9f7609940a"),
    "injection_synth": (1500, "c42b1441859e6976a991dd4e088404d428a92ce4132a63a3eecd040bbd94537a"),
    "hard_benign": (1000, "967cc1273caabfadfe106b1cb9360f841c688be02bb9fab9b215aaf8a6cc63d7"),
}


def _synth() -> ModuleType:
    spec = importlib.util.spec_from_file_location("injection_synth", SCRIPTS / "injection_synth.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("injection_synth", module)
    spec.loader.exec_module(module)
    return module


def test_generator_reproduces_the_training_data_byte_for_byte() -> None:
    synth = _synth()
    for name, (count, digest) in TRAINED_ON.items():
        texts = getattr(synth, name)()
        assert len(texts) == count, name
        got = hashlib.sha256(json.dumps(texts, ensure_ascii=False).encode()).hexdigest()
        assert got == digest, f"{name}: the templates or the generator changed the training data"


def test_templates_are_data_one_file_per_language() -> None:
    synth = _synth()
    files = {p.stem for p in (SCRIPTS / "injection_templates").glob("*.json")}
    assert files == {*synth.LANGS, "common", "languages"}
    for lang in synth.LANGS:
        data = synth.DATA[lang]
        assert {"phrase", "chat", "inject", "hard", "goal"} <= set(data), lang
    # the generator is code, the templates are not
    assert len((SCRIPTS / "injection_synth.py").read_text("utf-8").splitlines()) < 250


def test_everyday_benign_is_deterministic_and_covers_every_language() -> None:
    synth = _synth()
    texts = synth.everyday_benign(300)
    assert texts == synth.everyday_benign(300)
    assert len(texts) == len(set(texts)) == 300
    for lang in synth.LANGS:
        assert synth.DATA[lang]["everyday"], lang
    assert not any("{" in t for t in texts), [t for t in texts if "{" in t][:3]
