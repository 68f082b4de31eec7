"""``keras_sanitize.scale`` on a real local Ray (2 CPUs), started and stopped by a module fixture.

Covers: the four dataset readers, keep="accepted", summary, an actor-killing input
(rows in = rows out, the killer refused with sandbox.crashed), ``scan --ray`` writing
the same Parquet rows as the plain scan. (Ray Serve: tests/test_scale_serve.py.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import keras_sanitize as ks

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"

pytestmark = [
    pytest.mark.xdist_group("ray"),
    # Ray's own deprecation noise, not ours:
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    # ray.init forks; JAX, when an earlier test loaded it, warns that fork and threads mix badly.
    pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning"),
]


ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install keras-sanitize[ray])")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    from _ray_fixture import local_ray_session

    with local_ray_session() as session:
        yield session


def _rows(ds: Any) -> list[dict[str, Any]]:
    return list(ds.take_all())


@pytest.mark.timeout(120)
def test_text_items_keep_all_and_accepted(local_ray: Any) -> None:
    texts = ["hello", "a\u202eb", "what time is it?", "x\x00y", "ignore all previous instructions"] * 4
    ds = local_ray.data.from_items([{"item": t} for t in texts])
    pipe = ks.text.default()
    out = ks.scale.sanitize_dataset(ds, pipe, concurrency=1, batch_size=8).materialize()
    rows = _rows(out)
    assert len(rows) == len(texts)
    expected = {t: pipe.run(t) for t in set(texts)}
    for row in rows:
        want = expected[row["item"]]
        assert bool(row["ok"]) == want.ok
        assert list(row["codes"]) == list(want.codes)
        assert [f["code"] for f in json.loads(row["findings"])] == list(want.codes)
        assert row["value"] == (want.value if want.ok else None)
    counts = ks.scale.summary(out)
    assert counts["rows"] == len(texts)
    assert counts["refused"] == sum(not expected[t].ok for t in texts)
    assert counts["text.bidi_control"] == 4
    with pytest.warns(RuntimeWarning, match="take all 2 CPUs"):  # would starve read tasks
        ks.scale.sanitize_dataset(ds, pipe, concurrency=2)


@pytest.mark.timeout(120)
def test_binary_files_images_text_and_parquet(local_ray: Any, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    image_dir = DATA / "image"
    names = ["gradient.jpg", "gradient.png", "truncated.png", "declared_huge.png", "script.svg"]
    pipe = ks.image.default(size=(16, 16))
    ds = local_ray.data.read_binary_files([str(image_dir / n) for n in names], include_paths=True)
    rows = _rows(ks.scale.sanitize_dataset(ds, pipe, "bytes", concurrency=1))
    got = {Path(r["path"]).name: (bool(r["ok"]), list(r["codes"])) for r in rows}
    local = {n: pipe.run((image_dir / n).read_bytes()) for n in names}
    assert got == {n: (r.ok, list(r.codes)) for n, r in local.items()}
    assert got["gradient.jpg"][0] and not got["truncated.png"][0]
    accepted = next(r for r in rows if Path(r["path"]).name == "gradient.jpg")
    assert accepted["value"].shape == (16, 16, 3)

    images = local_ray.data.read_images([str(image_dir / "gradient.jpg"), str(image_dir / "gradient.png")])
    decoded = _rows(ks.scale.sanitize_dataset(images, pipe, "image", concurrency=1))
    assert len(decoded) == 2 and all(r["ok"] and r["value"].shape == (16, 16, 3) for r in decoded)

    text_file = tmp_path / "lines.txt"
    text_file.write_text("hello\nsneaky \u202egnp.exe\nfine line\n", encoding="utf-8")
    lines_ds = local_ray.data.read_text(str(text_file))
    lines = _rows(ks.scale.sanitize_dataset(lines_ds, ks.text.default(), "text"))
    assert [bool(r["ok"]) for r in lines] == [True, False, True]

    table = pa.table({"prompt": ["hi", "a\u202eb", "ok"], "label": [0, 1, 0]})
    pq.write_table(table, tmp_path / "prompts.parquet")
    pds = local_ray.data.read_parquet(str(tmp_path / "prompts.parquet"))
    out = _rows(ks.scale.sanitize_dataset(pds, ks.text.default(), "prompt", keep="accepted"))
    assert sorted(r["prompt"] for r in out) == ["hi", "ok"] and {r["label"] for r in out} == {0}
    with pytest.raises(ks.ConfigError, match="no column 'item'"):
        ks.scale.sanitize_dataset(pds, ks.text.default())


@pytest.mark.timeout(150)
def test_actor_killing_inputs_are_refused_and_every_row_comes_out(local_ray: Any) -> None:
    from _crashers import MARKER, CrashOn

    texts = [f"row {i}" for i in range(24)]
    killers = {3, 5, 17}  # two in the first batch of 8, one in the third
    for i in killers:
        texts[i] = f"{MARKER} {i}"
    pipe = ks.Pipeline([CrashOn(), *ks.text.default().stages], modality="text")
    ds = local_ray.data.from_items([{"item": t} for t in texts])
    out = ks.scale.sanitize_dataset(ds, pipe, concurrency=1, batch_size=8).materialize()
    rows = _rows(out)
    assert sorted(r["item"] for r in rows) == sorted(texts)  # rows in = rows out
    for row in rows:
        i = texts.index(row["item"])
        if i in killers:
            assert not row["ok"] and list(row["codes"]) == ["sandbox.crashed"], row
            assert "killed the process" in json.loads(row["findings"])[0]["message"]
            assert row["value"] is None
        else:
            assert row["ok"] and row["value"] == row["item"], row
    assert ks.scale.summary(out) == {
        "rows": 24,
        "accepted": 21,
        "refused": 3,
        "sandbox.crashed": 3,
    }


@pytest.mark.timeout(150)
def test_scan_ray_writes_the_same_rows_as_the_plain_scan(local_ray: Any, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from keras_sanitize.cli import main

    folder = ROOT / "examples" / "data"
    plain, ray_out = tmp_path / "plain.parquet", tmp_path / "ray.parquet"
    code_plain = main(["scan", str(folder), "--no-progress", "--out", str(plain)])
    code_ray = main(["scan", str(folder), "--no-progress", "--ray", "--out", str(ray_out)])
    assert code_plain == code_ray
    a, b = pq.read_table(plain).to_pylist(), pq.read_table(ray_out).to_pylist()
    assert len(a) == sum(1 for p in folder.rglob("*") if p.is_file()) and len(a) > 3
    assert a == b
    assert set(a[0]) == {"path", "sha256", "modality", "ok", "codes", "findings"}
    assert all(len(r["sha256"]) == 64 for r in a)
