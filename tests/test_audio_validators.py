"""Audio validators (``keras_sanitize/audio/validators.py``): header limits, allowlists, signal findings."""

from __future__ import annotations

import os
import struct
import tracemalloc

import numpy as np
import pytest
from _audio_helpers import (
    BYTES,
    CLIP_STAGES,
    CLIPS,
    RATE,
    SPEECH,
    STAGES,
    _hostile_clips,
    of_kind,
    rejects,
    run,
)

import keras_sanitize as ks
from keras_sanitize.audio import Clip, encoders, synth, validators
from keras_sanitize.audio._header import container_of, parse_header
from keras_sanitize.testing import check_stage


@pytest.mark.parametrize(
    ("fmt", "subtype", "codec"),
    [
        ("WAV", "PCM_16", "PCM_16"),
        ("WAV", "FLOAT", "FLOAT"),
        ("WAV", "PCM_U8", "PCM_U8"),
        ("FLAC", "PCM_24", "PCM_24"),
        ("OGG", "VORBIS", "VORBIS"),
        ("OGG", "OPUS", "OPUS"),
        ("AIFF", "PCM_16", "PCM_16"),
        ("RF64", "PCM_16", "PCM_16"),
    ],
)
def test_headers_match_libsndfile(fmt: str, subtype: str, codec: str) -> None:
    import io

    import soundfile as sf

    rate = 48000 if subtype == "OPUS" else RATE
    data = synth.encode(np.stack([SPEECH, SPEECH], 1), rate, fmt, subtype)
    info = parse_header(data, container_of(data) or "")
    ref = sf.info(io.BytesIO(data))
    assert info is not None
    assert (info.codec, info.rate, info.channels) == (codec, ref.samplerate, ref.channels)
    assert info.frames is not None and abs(info.frames - ref.frames) <= 1024
    report = run(data, formats=["wav", "flac", "ogg", "aiff"])
    assert report.ok, report
    assert report.value.dtype == np.float32 and report.value.ndim == 1


def test_wav_declaring_4gb_is_refused_before_decoding() -> None:
    data = synth.lying_wav(4294967280)
    assert len(data) == 3244
    tracemalloc.start()
    report = run(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert not report.ok
    msgs = " ".join(f.message for f in report.findings)
    assert "declares 4294967280 data bytes in a 3244-byte file" in msgs
    assert "audio.undecodable" not in report.codes and report.timings.get("decode") is None
    assert peak < 2_000_000
    # Decode alone (no validators in front) still never asks libsndfile for the declared size.
    alone = encoders.Decode().run(data)
    assert not alone.ok and alone.codes == ("audio.too_long",)


def test_truncated_wav_within_limits_is_refused() -> None:
    full = synth.encode(SPEECH, RATE, "WAV", "PCM_16")
    report = run(full[: len(full) // 2])
    assert rejects(report) == {"audio.length_mismatch"}
    assert "declares 32000 data bytes" in report.rejections[0].message
    # In monitor mode the header finding warns; the decoder then reports the short stream.
    monitor = ks.Pipeline([ks.audio.default()], mode="monitor").run(full[: len(full) // 2])
    assert monitor.ok and {"audio.length_mismatch", "audio.truncated"} <= set(monitor.codes)


def test_flac_declaring_far_more_samples_than_its_bytes_can_hold() -> None:
    data = bytearray(synth.encode(np.zeros(4096, np.float32), RATE, "FLAC"))
    # total_samples is the low 36 bits of the 8 bytes at offset 8+10 of STREAMINFO
    (packed,) = struct.unpack_from(">Q", data, 18)
    packed = (packed & ~((1 << 36) - 1)) | (RATE * 50)  # 50 s: under the duration cap
    struct.pack_into(">Q", data, 18, packed)
    report = run(bytes(data))
    assert rejects(report) == {"audio.length_mismatch"}, report
    assert "which need at least" in report.rejections[0].message


def test_long_silent_flac_is_refused_from_its_header() -> None:
    data = synth.encode(np.zeros(RATE * 61, np.float32), RATE, "FLAC")
    assert len(data) < 64_000  # silence compresses ~30x: a bomb-like ratio
    report = run(data)
    assert rejects(report) == {"audio.too_long"}
    assert "61 s" in report.rejections[0].message
    # With an "unknown" length in STREAMINFO the decoder's own cap still stops it.
    patched = bytearray(data)
    (packed,) = struct.unpack_from(">Q", patched, 18)
    struct.pack_into(">Q", patched, 18, packed & ~((1 << 36) - 1))
    report = run(bytes(patched))
    assert "audio.too_long" in rejects(report)
    assert "decodes to more than" in report.rejections[0].message


@pytest.mark.parametrize("channels", [3, 8, 64])
def test_many_channels(channels: int) -> None:
    data = synth.encode(np.zeros((800, channels), np.float32), RATE, "WAV", "PCM_16")
    report = run(data)
    assert rejects(report) == {"audio.channels"}
    assert f"{channels} channels" in report.rejections[0].message
    assert run(data, max_channels=channels).ok


@pytest.mark.parametrize("rate", [1, 4000, 384000, 4_000_000_000])
def test_absurd_rates(rate: int) -> None:
    data = bytearray(synth.encode(SPEECH[:1000], RATE, "WAV", "PCM_16"))
    struct.pack_into("<I", data, 24, rate)
    report = run(bytes(data))
    assert "audio.sample_rate" in rejects(report)
    assert f"{rate:g} Hz" in report.rejections[0].message


def test_signal_findings_warn_with_measured_values() -> None:
    loud = np.clip(SPEECH * 10, -1, 1)
    report = run((loud + 0.05, RATE))
    assert report.ok
    by_code = {f.code: f for f in report.findings}
    assert by_code["audio.clipping"].action.value == "warn"
    assert by_code["audio.clipping"].detail["clipped_ratio"] > 0.01
    assert by_code["audio.dc_offset"].detail["dc"] == pytest.approx(0.05, abs=0.02)
    assert "audio.dc_removed" in by_code  # the default pipeline corrects it
    assert abs(float(report.value.mean())) < 1e-4
    silent = run((np.zeros(RATE, np.float32), RATE))
    assert silent.ok and silent.codes == ("audio.silence",)
    assert run((np.zeros(0, np.float32), RATE)).codes == ("audio.empty",)


def test_format_allowlist_and_declared_type() -> None:
    mp3ish = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(100)
    assert rejects(run(mp3ish)) == {"audio.format_not_allowed"}
    wav = synth.encode(SPEECH, RATE, "WAV", "PCM_16")
    report = run({"data": wav, "filename": "voice.mp3", "content_type": "audio/mpeg"})
    assert report.ok and report.codes == ("audio.declared_type_mismatch",)
    assert "'voice.mp3'" in report.findings[0].message
    assert run({"data": wav, "filename": "voice.WAV", "content_type": "audio/wav"}).codes == ()
    assert rejects(run(b"<svg onload=alert(1)>")) == {"audio.format_not_allowed"}
    assert rejects(run(b"\x00" * 100)) == {"audio.format_not_allowed"}
    assert rejects(run(synth.encode(SPEECH, RATE, "AIFF"))) == {"audio.format_not_allowed"}
    assert run(synth.encode(SPEECH, RATE, "AIFF"), formats=["aiff"]).ok


def test_codec_allowlist() -> None:
    adpcm = synth.encode(SPEECH, RATE, "WAV", "IMA_ADPCM")
    report = run(adpcm)
    assert rejects(report) == {"audio.codec"} and "IMA_ADPCM" in report.rejections[0].message
    assert run(adpcm, codecs=["IMA_ADPCM"]).ok


def test_byte_budget() -> None:
    wav = synth.encode(SPEECH, RATE, "WAV", "PCM_16")
    report = run(wav, max_bytes=1000)
    assert rejects(report) == {"audio.too_many_bytes"} and str(len(wav)) in report.rejections[0].message


def test_header_limits_without_decoding_on_clips() -> None:
    long = Clip(np.zeros((RATE * 61, 1), np.float32), RATE)
    assert validators.HeaderLimits().run(long).codes == ("audio.too_long",)


def test_every_truncation_of_every_header_is_a_finding() -> None:
    """Cut valid files at every byte of their headers (a fuzz-found IndexError lived here)."""
    x = synth.speech_like(0.05, RATE, seed=1)
    templates = [
        synth.encode(x, RATE, "WAV", "PCM_16"),
        synth.encode(x, RATE, "FLAC"),
        synth.encode(x, RATE, "OGG", "VORBIS"),
        synth.encode(x, 48000, "OGG", "OPUS"),
        synth.encode(x, RATE, "AIFF", "PCM_16"),
        synth.encode(x, RATE, "RF64", "PCM_16"),
    ]
    pipe = ks.audio.default(formats=["wav", "flac", "ogg", "aiff"])
    for data in templates:
        for cut in [*range(0, 160), len(data) // 2, len(data) - 1]:
            report = pipe.run(data[:cut])
            assert not report.has("core."), (data[:4], cut, report)
            assert not report.ok or cut >= len(data) - 1, (data[:4], cut)


@pytest.mark.parametrize("stage", of_kind(STAGES, "validator"), ids=lambda s: repr(s)[:60])
def test_stage_contract(stage: ks.Stage) -> None:
    check_stage(stage, CLIPS + BYTES, max_examples=30)


@pytest.mark.parametrize("stage", of_kind(CLIP_STAGES, "validator"), ids=lambda s: repr(s)[:60])
def test_hostile_clips_give_findings_never_errors_or_warnings(stage: ks.Stage) -> None:
    check_stage(
        stage, [], max_examples=int(os.environ.get("AUDIO_EXAMPLES", "40")), strategy=_hostile_clips()
    )
