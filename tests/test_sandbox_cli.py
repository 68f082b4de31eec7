"""``keras-sanitize scan --sandbox``: the same verdicts, decoded in sandbox workers."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from keras_sanitize.cli import main

pytestmark = pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="the sandbox needs Linux")


def _files(folder: Path) -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (50, 40), "red").save(buf, "JPEG")
    (folder / "ok.jpg").write_bytes(buf.getvalue())
    (folder / "polyglot.jpg").write_bytes(buf.getvalue() + b"<script>alert(1)</script>")
    (folder / "note.txt").write_text("hello world")
    (folder / "bidi.txt").write_text("hi \u202e evil")
    (folder / "vector.npy").write_bytes(b"\x93NUMPY junk")


def _scan(folder: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, object]]:
    code = main(["scan", str(folder), "--json", "--no-progress", *extra])
    return code, json.loads(capsys.readouterr().out)


def test_scan_sandbox_gives_the_in_process_verdicts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _files(tmp_path)
    code, plain = _scan(tmp_path, capsys)
    code_sb, boxed = _scan(tmp_path, capsys, "--sandbox")
    assert code == code_sb == 1

    def verdicts(doc: dict[str, object]) -> dict[str, tuple[str, list[str]]]:
        files = doc["files"]
        assert isinstance(files, list)
        return {Path(f["path"]).name: (f["verdict"], [x["code"] for x in f["findings"]]) for f in files}

    assert verdicts(plain) == verdicts(boxed)
    assert verdicts(boxed)["polyglot.jpg"] == ("refused", ["image.trailing_data"])


def test_scan_sandbox_with_a_policy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("plain text")
    (tmp_path / "in" / "b.txt").write_text("x" * 200)
    policy = tmp_path / "policy.toml"
    policy.write_text('preset = "text.default"\n[options]\nmax_chars = 100\n')
    code, doc = _scan(tmp_path / "in", capsys, "--sandbox", "--policy", str(policy))
    assert code == 1
    assert doc["summary"] == {"files": 2, "accepted": 1, "cleaned": 0, "refused": 1}
