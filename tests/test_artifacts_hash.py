"""sha256() / verify(): streaming hashing and pinning."""

from __future__ import annotations

import hashlib
import os
import tracemalloc

import pytest

import keras_sanitize as ks
from keras_sanitize.artifacts import sha256, verify


def test_sha256_matches_hashlib(tmp_path):
    data = os.urandom(3 * (1 << 20) + 17)  # crosses chunk boundaries
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert sha256(path) == hashlib.sha256(data).hexdigest()
    assert sha256(str(path)) == sha256(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    assert sha256(path) == hashlib.sha256(b"").hexdigest()


def test_verify_accepts_prefix_and_case(tmp_path):
    path = tmp_path / "m.bin"
    path.write_bytes(b"weights")
    digest = hashlib.sha256(b"weights").hexdigest()
    assert verify(path, sha256=digest) == digest
    assert verify(path, sha256="SHA256:" + digest.upper()) == digest


def test_verify_mismatch_raises_artifact_error_with_report(tmp_path):
    path = tmp_path / "m.bin"
    path.write_bytes(b"weights")
    with pytest.raises(ks.ArtifactError) as info:
        verify(path, sha256="ab" * 32)
    report = info.value.report
    assert report is not None and not report.ok
    assert report.codes == ("artifact.hash_mismatch",)
    finding = report.findings[0]
    assert finding.detail["expected"] == "ab" * 32
    assert finding.detail["actual"] == hashlib.sha256(b"weights").hexdigest()
    assert "pinned" in finding.message


@pytest.mark.parametrize("bad", ["", "xyz", "ab" * 31, "g" * 64, 123, None])
def test_malformed_pin_is_config_error(tmp_path, bad):
    path = tmp_path / "m.bin"
    path.write_bytes(b"x")
    with pytest.raises(ks.ConfigError):
        verify(path, sha256=bad)


def test_missing_file_and_directory_are_artifact_errors(tmp_path):
    with pytest.raises(ks.ArtifactError) as info:
        sha256(tmp_path / "absent.keras")
    assert info.value.report.codes == ("artifact.unreadable",)
    with pytest.raises(ks.ArtifactError) as info:
        sha256(tmp_path)
    assert info.value.report.codes == ("artifact.not_a_file",)


def test_non_path_argument_is_config_error():
    with pytest.raises(ks.ConfigError):
        sha256(12345)  # type: ignore[arg-type]


def test_memory_stays_constant(tmp_path):
    path = tmp_path / "big.bin"
    with open(path, "wb") as fh:
        for _ in range(32):
            fh.write(os.urandom(1 << 20))
    tracemalloc.start()
    try:
        sha256(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"hashing a 32 MiB file peaked at {peak} bytes"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "model.keras"
    os.mkfifo(fifo)
    with pytest.raises(ks.ArtifactError) as info:
        sha256(fifo)
    assert info.value.report.codes == ("artifact.not_a_file",)
    assert ks.artifacts.scan(fifo).codes == ("artifact.not_a_file",)
