"""`keras-sanitize scan-model` and `keras-sanitize audit`, driven through argparse + add_commands."""

from __future__ import annotations

import argparse
import io
import json

import pytest

from keras_sanitize import _cli_artifacts as cli
from keras_sanitize.artifacts import _fixtures as fx


def _run(argv):
    parser = argparse.ArgumentParser(prog="keras-sanitize")
    cli.add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    out = io.StringIO()
    code = args.func(args, out)
    return code, out.getvalue()


@pytest.fixture
def clean(tmp_path):
    return fx.write_keras(tmp_path / "clean.keras", fx.clean_parts())


def test_clean_exits_zero(clean):
    code, out = _run(["scan-model", str(clean)])
    assert code == 0
    assert "ok: no findings" in out


@pytest.mark.parametrize("name", sorted(fx.HOSTILE))
def test_hostile_exits_one(tmp_path, name):
    marker = tmp_path / "marker"
    path = fx.HOSTILE[name](tmp_path, marker)
    code, out = _run(["scan-model", str(path)])
    assert code == 1
    assert fx.EXPECTED[name] in out
    assert not marker.exists()


def test_json_output_and_mixed_exit(tmp_path, clean):
    bad = fx.zip_slip(tmp_path, tmp_path / "marker")
    code, out = _run(["scan-model", str(clean), str(bad), "--json"])
    doc = json.loads(out)
    assert code == 1 and doc["exit"] == 1
    assert [r["exit"] for r in doc["results"]] == [0, 1]
    assert doc["results"][0]["value"]["format"] == "keras-zip"
    assert "artifact.zip_slip" in {f["code"] for f in doc["results"][1]["findings"]}


def test_unreadable_exits_two(tmp_path, clean):
    code, out = _run(["scan-model", str(clean), str(tmp_path / "absent.keras")])
    assert code == 2 and "artifact.unreadable" in out
    assert _run(["scan-model", str(tmp_path)])[0] == 2


def test_sha256_option(clean, capsys):
    from keras_sanitize.artifacts import sha256

    assert _run(["scan-model", str(clean), "--sha256", sha256(clean)])[0] == 0
    assert _run(["scan-model", str(clean), "--sha256", "1" * 64])[0] == 1
    assert _run(["scan-model", str(clean), str(clean), "--sha256", "1" * 64])[0] == 2
    assert _run(["scan-model", str(clean), "--sha256", "zz"])[0] == 2
    assert "error" in capsys.readouterr().err


def test_allow_module_and_strict(tmp_path):
    parts = fx.clean_parts()
    cfg = json.loads(json.dumps(parts.config))
    cfg["config"]["layers"].insert(1, {"module": "my_pkg.layers", "class_name": "Mine",
                                       "registered_name": "Custom>Mine", "config": {"name": "m"}})
    path = fx.write_keras(tmp_path / "m.keras", parts, cfg)
    assert _run(["scan-model", str(path)])[0] == 1
    assert _run(["scan-model", str(path), "--allow-module", "my_pkg"])[0] == 0  # custom_object only warns
    assert _run(["scan-model", str(path), "--allow-module", "my_pkg", "--strict"])[0] == 1


def test_audit_command(tmp_path):
    code, out = _run(["audit", "--json", "--source", "table"])
    doc = json.loads(out)
    assert code == doc["exit"] == (0 if doc["ok"] else 1)
    assert doc["value"]["installed"]["keras"]
    assert doc["value"]["table"]["updated"]
    code, out = _run(["audit", "--source", "table"])
    assert "source: shipped advisory table" in out and "keras" in out
    table = tmp_path / "t.toml"
    table.write_text('[meta]\nupdated = 2026-11-01\n\n[[advisory]]\nid = "X-1"\npackage = "python"\n'
                     'affected = [">=0"]\nfixed = ""\nseverity = "low"\nsummary = "every python"\n')
    code, out = _run(["audit", "--table", str(table)])
    assert code == 1 and "X-1" in out
    table.write_text("not toml [")
    assert _run(["audit", "--table", str(table)])[0] == 2


def test_recursive_scan(tmp_path):
    models = tmp_path / "models" / "sub"
    models.mkdir(parents=True)
    fx.write_keras(models / "clean.keras", fx.clean_parts())
    (models / "notes.txt").write_text("hello")
    assert _run(["scan-model", str(tmp_path / "models")])[0] == 2  # a directory without -r
    code, out = _run(["scan-model", "-r", str(tmp_path / "models"), "--json"])
    doc = json.loads(out)
    assert code == 1
    verdicts = {r["path"].rsplit("/", 1)[1]: r["exit"] for r in doc["results"]}
    assert verdicts == {"clean.keras": 0, "notes.txt": 1}


def test_audit_a_requirements_file(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("# pinned\nkeras==3.8.0 ; python_version >= '3.10'\n"
                   "Pillow[webp] == 10.1.0\nnumpy>=2\n-e .\n")
    code, out = _run(["audit", "--requirements", str(req), "--json", "--source", "table"])
    doc = json.loads(out)
    assert code == 1
    assert doc["value"]["installed"]["keras"] == "3.8.0"
    assert doc["value"]["installed"]["pillow"] == "10.1.0"
    assert doc["value"]["installed"]["numpy"] is None  # not pinned: not taken from this environment
    ids = {f["detail"]["id"] for f in doc["findings"] if f["code"] == "audit.vulnerable"}
    assert {"CVE-2025-1550", "CVE-2023-50447"} <= ids
    assert _run(["audit", "--requirements", str(tmp_path / "absent.txt"), "--source", "table"])[0] == 2
