"""Issue 20 item 5: what decoder libraries print to fd 2 is captured, bounded, logged and reported.

The hostile files are built here: a TIFF whose LZW strip is noise (libtiff prints "Using code
not yet in table") and an MP3 with a bogus ID3 tag spliced into its frames (mpg123 inside
libsndfile prints "Illegal Audio-MPEG-Header ... Trying to resync").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import logging
import os
import threading
import time

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

import keras_sanitize as ks
from keras_sanitize import _stderr
from keras_sanitize._stderr import LOG_BURST, captured_stderr

LIBC = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _c_write(text: bytes) -> None:
    """Write to fd 2 from C, as libtiff and mpg123 do (below Python's sys.stderr)."""
    LIBC.write(2, text, len(text))


def _fd2_identity() -> tuple[int, int]:
    st = os.fstat(2)
    return st.st_dev, st.st_ino


def test_capture_returns_what_c_wrote_and_restores_fd2(capfd: pytest.CaptureFixture[str]) -> None:
    before = _fd2_identity()
    with captured_stderr("test", log=False) as cap:
        _c_write(b"_tiffReadProc: Invalid Read\n")
    assert cap.text == "_tiffReadProc: Invalid Read"
    assert cap.lines == ["_tiffReadProc: Invalid Read"]
    assert _fd2_identity() == before
    _c_write(b"after the window\n")
    err = capfd.readouterr().err
    assert "after the window" in err and "Invalid Read" not in err


def test_a_flood_is_bounded_and_never_blocks() -> None:
    start = time.monotonic()
    with captured_stderr("flood", limit=1000, log=False) as cap:
        for _ in range(200):  # 10 MB, far past the 64 KiB pipe: writes must fail, not block
            _c_write(b"x" * 50_000)
    assert time.monotonic() - start < 30  # a hang guard, not a speed claim
    assert len(cap.text) <= 1000
    assert cap.dropped > 0


def test_concurrent_windows_each_see_their_own_message() -> None:
    n = 8
    barrier = threading.Barrier(n)
    caps: dict[int, str] = {}
    before = _fd2_identity()

    def work(i: int) -> None:
        barrier.wait()
        with captured_stderr(f"t{i}", log=False) as cap:
            _c_write(f"message-{i}\n".encode())
            time.sleep(0.01)
        caps[i] = cap.text

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(f"message-{i}" in caps[i] for i in range(n)), caps
    assert _fd2_identity() == before
    assert _stderr._REDIRECT.users == 0


def test_logging_is_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    _stderr._RATE.window_start, _stderr._RATE.sent = time.monotonic(), 0
    with caplog.at_level(logging.WARNING, logger="keras_sanitize.decoders"):
        for i in range(LOG_BURST * 5):
            with captured_stderr("libtest"):
                _c_write(f"Weird tag size {i}\n".encode())
    records = [r for r in caplog.records if r.name == "keras_sanitize.decoders"]
    assert 1 <= len(records) <= LOG_BURST
    assert "Weird tag size" in records[0].getMessage()
    assert _stderr._RATE.suppressed >= LOG_BURST * 4 - LOG_BURST


def _noisy_tiff() -> bytes:
    buf = io.BytesIO()
    pixels = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype("uint8")
    Image.fromarray(pixels).save(buf, "TIFF", compression="tiff_lzw")
    data = buf.getvalue()
    im = Image.open(io.BytesIO(data))
    off, count = im.tag_v2[273][0], im.tag_v2[279][0]
    noise = np.random.default_rng(1).integers(0, 256, count, dtype=np.uint8).tobytes()
    return data[:off] + noise + data[off + count :]


def test_libtiff_messages_become_findings_not_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    capfd.readouterr()
    report = ks.image.default(size=(32, 32), formats=["image/tiff"]).run(_noisy_tiff())
    assert not report.ok
    corrupt = next(f for f in report.findings if f.code == "image.corrupt")
    assert "the decoder printed" in corrupt.message and "table" in corrupt.message, corrupt.message
    assert "not yet in table" not in capfd.readouterr().err.replace("wrote to stderr", "")


def _resync_mp3() -> bytes:
    buf = io.BytesIO()
    sf.write(buf, (np.sin(np.arange(32000) / 10) * 0.3).astype("float32"), 16000, format="MP3")
    mp3 = buf.getvalue()
    return mp3[:100] + b"ID3\x03\x00\x00\x00\x00\x01\x00TXXX\xff\xff\xff\xff\x00\x00" + mp3[100:]


@pytest.mark.skipif("MP3" not in sf.available_formats(), reason="this libsndfile has no MP3 support")
def test_mpg123_messages_become_findings_not_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    capfd.readouterr()
    report = ks.audio.default(sample_rate=16000, formats=["mp3"]).run(_resync_mp3())
    assert not report.ok
    assert "the decoder printed" in report.findings[0].message, report.findings[0].message
    assert "Illegal Audio-MPEG-Header" not in capfd.readouterr().err.split("wrote to stderr")[0]


@pytest.mark.skipif("MP3" not in sf.available_formats(), reason="this libsndfile has no MP3 support")
def test_a_decodable_mp3_with_warnings_reports_decoder_warning() -> None:
    buf = io.BytesIO()
    sf.write(buf, (np.sin(np.arange(32000) / 10) * 0.3).astype("float32"), 16000, format="MP3")
    mp3 = buf.getvalue()
    junk = mp3[: len(mp3) // 2] + b"\x00" * 64 + mp3[len(mp3) // 2 :]  # resync mid-stream
    with captured_stderr("probe", log=False) as cap:
        sf.read(io.BytesIO(junk))
    if not cap.text:
        pytest.skip("this libsndfile/mpg123 build prints nothing for a mid-stream resync")
    report = ks.audio.default(sample_rate=16000, formats=["mp3"]).run(junk)
    hits = [f for f in report.findings if f.code == "audio.decoder_warning"]
    assert hits and hits[0].detail["category"] == "stderr", report.codes


def test_closed_fd2_runs_unredirected() -> None:
    code = (
        "import os\n"
        "from keras_sanitize._stderr import captured_stderr\n"
        "os.close(2)\n"
        "with captured_stderr('x', log=False) as cap:\n"
        "    pass\n"
        "assert cap.text == '' and not os.path.exists('/proc/self/fd/2')\n"
        "print('ok')\n"
    )
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env,
                          check=False)
    assert proc.stdout.strip() == "ok", proc.stdout
