"""Text filters (``keras_sanitize/text/filters.py``): the harness, idempotence on hostile text."""

from __future__ import annotations

import json

import pytest
from _text_helpers import SAMPLES, STAGES, in_module
from hypothesis import given, settings
from hypothesis import strategies as st

import keras_sanitize as ks
from keras_sanitize.fuzzing.strategies import hostile_text
from keras_sanitize.testing import check_stage


@pytest.mark.parametrize("stage", [s for s in STAGES if isinstance(s, ks.Filter)], ids=lambda s: s.name)
@settings(max_examples=40, deadline=None, database=None)
@given(text=hostile_text())
def test_filters_are_idempotent_on_hostile_text(stage: ks.Stage, text: str) -> None:
    once = stage.run(text)
    if once.ok and once.value is not None:
        assert stage.run(once.value).value == once.value


@pytest.mark.parametrize("stage", in_module(STAGES, "filters"), ids=lambda s: f"{type(s).__name__}-{s.name}")
def test_every_text_stage_passes_the_harness(stage: ks.Stage) -> None:
    text_or_any = st.one_of(hostile_text(), st.binary(max_size=300), st.none(), st.integers())
    check_stage(stage, SAMPLES, max_examples=40, strategy=text_or_any)


@pytest.mark.parametrize("stage", in_module(STAGES, "filters"), ids=lambda s: s.name)
def test_configs_are_json(stage: ks.Stage) -> None:
    cfg = json.loads(json.dumps(ks.serialize_stage(stage)))
    assert ks.deserialize_stage(cfg).get_config() == stage.get_config()
