"""Real-type sniffing of raw bytes (``keras_sanitize/sniff.py``)."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_sanitize.audio import synth
from keras_sanitize.image import _samples
from keras_sanitize.sniff import sniff_mime

SPEECH = synth.speech_like(0.2, 16000)


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (_samples.png(), "image/png"),
        (_samples.jpeg(), "image/jpeg"),
        (_samples.animated_gif(), "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (synth.encode(SPEECH, 16000, "WAV"), "audio/x-wav"),
        (synth.encode(SPEECH, 16000, "FLAC"), "audio/flac"),
        (synth.encode(SPEECH, 16000, "OGG"), "audio/ogg"),
        (synth.encode(SPEECH, 16000, "AIFF"), "audio/x-aiff"),
        (b"ID3\x04\x00" + bytes(64), "audio/mpeg"),
    ],
)
def test_signatures_need_no_libmagic(data: bytes, mime: str) -> None:
    assert sniff_mime(data, use_libmagic=False) == mime
    assert sniff_mime(data) == mime
    assert sniff_mime(memoryview(data)) == mime and sniff_mime(bytearray(data)) == mime


def test_the_rest_goes_to_libmagic_or_is_unknown() -> None:
    assert sniff_mime(b"hello world, plain text") == "text/plain"
    assert sniff_mime(b"") == "application/x-empty"
    assert sniff_mime(b"hello", use_libmagic=False) == "application/octet-stream"
    assert sniff_mime(b"<svg xmlns='http://www.w3.org/2000/svg'></svg>").startswith("image/svg")


def test_a_name_never_matters_only_bytes() -> None:
    # a PNG signature behind other bytes is not a PNG
    assert sniff_mime(b"GIF" + _samples.png()) != "image/png"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_never_raises_and_answers_a_mime_string(data: bytes) -> None:
    mime = sniff_mime(data)
    assert isinstance(mime, str) and "/" in mime


def test_thread_safe() -> None:
    inputs = [_samples.png(), b"some text here", synth.encode(SPEECH, 16000, "WAV")] * 20
    want = [sniff_mime(x) for x in inputs]
    got: list[list[str]] = []

    def work() -> None:
        got.append([sniff_mime(x) for x in inputs])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert got == [want] * 4
