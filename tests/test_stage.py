"""Stages and their context (``keras_sanitize/stage.py``): nested contexts, the shared argument checks."""

from __future__ import annotations

from typing import Any

import pytest

import keras_sanitize as ks


def test_context_nested_shares_findings_and_propagates_rejection() -> None:
    class Refuse(ks.Validator):
        def check(self, value: Any, ctx: ks.Context) -> None:
            ctx.add("core.test_refuse", "refused for the test")

    sink: list[ks.Finding] = []
    outer = Refuse(name="outer").context(sink)
    inner = outer.nested(Refuse(name="inner"), policy={"core": ks.Action.WARN})
    start = outer.position
    Refuse(name="inner").process("x", inner)
    assert outer.position == start + 1
    assert sink[0].stage == "inner" and sink[0].action is ks.Action.WARN  # the policy won
    assert not outer.rejected
    inner2 = outer.nested(Refuse(name="inner2"))
    Refuse().process("x", inner2)
    assert inner2.rejected and outer.rejected
    outer.annotate(start, {"input": "a"})
    assert all(f.detail["input"] == "a" for f in outer.since(start))


def test_check_names_is_the_one_allowlist_check() -> None:
    from keras_sanitize.stage import check_names

    assert check_names("X", "formats", ["WAV", "wav", "flac"], case="lower") == ("flac", "wav")
    for bad in ("wav", b"wav", 3, [""], [None]):
        with pytest.raises(ks.ConfigError, match="formats"):
            check_names("X", "formats", bad)  # type: ignore[arg-type]
    with pytest.raises(ks.ConfigError, match="must be among"):
        check_names("X", "formats", ["mp4"], known={"wav"})
    # the modalities use it: the same message shape for the same mistake
    with pytest.raises(ks.ConfigError, match="formats must be a list of names"):
        ks.image.default(formats="image/png")
    with pytest.raises(ks.ConfigError, match="formats must be a list of names"):
        ks.audio.default(formats="wav")
