"""Text encoders (``keras_sanitize/text/encoders.py``): the harness, decoding, escaping."""

from __future__ import annotations

import json

import pytest
from _text_helpers import SAMPLES, STAGES, E, in_module
from hypothesis import strategies as st

import keras_sanitize as ks
from keras_sanitize.fuzzing.strategies import hostile_text
from keras_sanitize.testing import check_stage


def test_to_text_reports_byte_offset_and_type() -> None:
    r = E.ToText().run(b"ok so far \xe2\x82 broken")
    assert r.codes == ("text.invalid_utf8",) and r.findings[0].detail["offset"] == 10
    assert "byte offset 10" in r.findings[0].message
    for bad in (None, 3, 2.5, ["x"], {"a": 1}, object()):
        r = E.ToText().run(bad)
        assert not r.ok and r.codes == ("text.not_text",) and r.findings[0].fatal
    assert E.ToText().run(b"\xef\xbb\xbfBOM").value == "BOM"
    assert E.ToText(max_bytes=4).run(b"12345").codes == ("text.too_many_bytes",)


def test_encoders() -> None:
    assert E.HtmlEscape().run("<a href='x'>&</a>").value == "&lt;a href=&#x27;x&#x27;&gt;&amp;&lt;/a&gt;"
    out = E.JsonEscape().run('q"\n</script>\u2028').value
    assert json.loads(f'"{out}"') == 'q"\n</script>\u2028' and "<" not in out
    assert E.EscapeNonPrintable().run("a\u202eb\x00").value == "a\\u202eb\\x00"
    assert E.Whitespace().run(" a \t b \r\n\r\n\r\n\r\n c ").value == "a b\n\nc"


@pytest.mark.parametrize("stage", in_module(STAGES, "encoders"), ids=lambda s: f"{type(s).__name__}-{s.name}")
def test_every_text_stage_passes_the_harness(stage: ks.Stage) -> None:
    text_or_any = st.one_of(hostile_text(), st.binary(max_size=300), st.none(), st.integers())
    check_stage(stage, SAMPLES, max_examples=40, strategy=text_or_any)


@pytest.mark.parametrize("stage", in_module(STAGES, "encoders"), ids=lambda s: s.name)
def test_configs_are_json(stage: ks.Stage) -> None:
    cfg = json.loads(json.dumps(ks.serialize_stage(stage)))
    assert ks.deserialize_stage(cfg).get_config() == stage.get_config()
