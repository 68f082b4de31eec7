"""What the first stage learns about an input is handed on (``Context.remember``/``recall``):
later stages do not sniff or parse the same bytes again."""

from __future__ import annotations

from typing import Any

import pytest

import keras_sanitize as ks
from keras_sanitize.audio import _common as audio_common
from keras_sanitize.audio import synth
from keras_sanitize.image import _decode as image_decode
from keras_sanitize.image import _samples

WAV = synth.encode(synth.speech_like(0.5, 16000), 16000)


def _counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, subject: bytes) -> list[int]:
    real = getattr(module, name)
    calls: list[int] = []

    def counted(data: Any, *args: Any, **kwargs: Any) -> Any:
        if data is subject:
            calls.append(1)
        return real(data, *args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_image_bytes_are_sniffed_once_per_input(monkeypatch: pytest.MonkeyPatch) -> None:
    png = _samples.png()
    calls = _counting(monkeypatch, image_decode, "sniff_mime", png)
    report = ks.image.default(size=(8, 8)).run(png)
    assert report.ok
    assert len(calls) == 1  # ImageFormat sniffs; ImageHeader and Decode recall it
    ks.image.default(size=(8, 8)).run(png)
    assert len(calls) == 2  # facts live for one run only


def test_audio_header_is_parsed_once_per_input(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = _counting(monkeypatch, audio_common, "parse_header", WAV)
    sniffed = _counting(monkeypatch, audio_common, "detect_format", WAV)
    assert ks.audio.default().run(WAV).ok
    assert len(parsed) == 1 and len(sniffed) == 1


def test_a_refused_audio_format_is_reported_once_even_in_monitor_mode() -> None:
    pipe = ks.Pipeline([ks.audio.default(formats=["flac"])], mode="monitor", fail_fast=False)
    report = pipe.run(WAV)
    assert not report.ok
    assert report.codes.count("audio.format_not_allowed") == 1


def test_a_fact_is_only_recalled_for_the_same_object() -> None:
    ctx = ks.Validator().context([])
    data = b"abc"
    ctx.remember("k", data, 1)
    assert ctx.recall("k", data) == 1
    assert ctx.recall("k", bytes(bytearray(b"abc"))) is None  # equal bytes, another object
    assert ctx.recall("other", data) is None
