"""The server on its default backend: every (tenant, model) pair in its own sandbox workers.

tritonclient over TLS gets the same numbers as the model in-process; a crash-inducing
input refuses that request only (``sandbox.crashed``) and the others keep being served;
a tenant that keeps crashing workers is put on a cool-down; ``ready`` is false while a
model's workers are down; restarts show in the metrics.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
httpclient = pytest.importorskip("tritonclient.http")

import _sandbox_faults as faults  # noqa: E402
from _serve import IMAGE_DATA, Raw, auth, bytes_request, digits_request, make_assets  # noqa: E402

import keras_sanitize as ks  # noqa: E402

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="the sandbox needs Linux"),
    pytest.mark.timeout(300),
    pytest.mark.slow,  # about two minutes here: three sandboxes, each loading the model in its workers
]


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("serve_sandbox")
    out = make_assets(folder)
    # a lax image policy whose first stage segfaults on inputs starting with KILL: a stand-in for
    # a decoder bug that a crafted file triggers
    pipe = ks.Pipeline(
        [faults.Segfault(prefix="KILL"), ks.image.default(size=(8, 8), color_mode="L")], modality="image"
    )
    (folder / "crashy.json").write_text(json.dumps(ks.serialize_stage(pipe)))
    return out


@pytest.fixture(scope="module")
def server(assets: dict[str, Any]) -> Iterator[Any]:
    d = assets["dir"]
    cfg = ks.serve.load_config(
        {
            "server": {
                "host": "127.0.0.1",
                "port": 0,
                "certfile": str(assets["cert"]),
                "keyfile": str(assets["key"]),
            },
            "limits": {"breaker_crashes": 2, "breaker_window": 60.0, "breaker_cooldown": 30.0},
            "models": {
                "digits": {
                    "path": str(d / "digits.keras"),
                    "sha256": assets["sha256"]["digits"],
                    "workers": 1,
                },
                "crashy": {
                    "path": str(d / "images.keras"),
                    "sha256": assets["sha256"]["images"],
                    "inputs": str(d / "crashy.json"),
                    "workers": 1,
                },
            },
            "tenants": {
                "alice": {
                    "key_sha256": ks.serve.hash_key("alice-key-0123456789"),
                    "models": ["digits", "crashy"],
                },
                "bob": {"key_sha256": ks.serve.hash_key("bob-key-0123456789"), "models": ["digits"]},
            },
        }
    )
    app = ks.serve.app(cfg)
    with ks.serve.BackgroundServer(app, cfg) as srv:
        srv.app = app
        srv.raw = Raw(srv.port, assets["cert"])
        yield srv


def _client(server: Any, assets: dict[str, Any]) -> Any:
    return httpclient.InferenceServerClient(
        f"127.0.0.1:{server.port}",
        ssl=True,
        ssl_options={"ca_certs": str(assets["cert"])},
        network_timeout=60,
    )


def test_tls_predictions_match_the_model_and_run_in_separate_processes(
    server: Any, assets: dict[str, Any]
) -> None:
    x = np.random.default_rng(3).random((4, 64), dtype=np.float32)
    want = ks.load_model(assets["dir"] / "digits.keras").predict(x, verbose=0)
    c = _client(server, assets)
    try:
        meta = c.get_model_metadata("digits", headers=auth("alice"))
        assert meta["parameters"]["isolation"] == "sandbox"
        assert meta["outputs"][0]["name"] == "probs"
        for tenant in ("alice", "bob"):
            inp = httpclient.InferInput("pixels", [4, 64], "FP32")
            inp.set_data_from_numpy(x)
            got = c.infer("digits", [inp], headers=auth(tenant)).as_numpy("probs")
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    finally:
        c.close()
    backends = server.app.state.server.backends
    alice, bob = backends["alice", "digits"], backends["bob", "digits"]
    assert alice is not bob and set(alice.pids()).isdisjoint(bob.pids())
    assert all(os.getpid() != p for p in alice.pids())
    assert alice.isolation()["process"]


def test_crash_input_then_breaker_others_keep_being_served(server: Any) -> None:
    raw = server.raw
    png = (IMAGE_DATA / "gradient.png").read_bytes()
    body, headers = bytes_request([png])
    status, _, out = raw.infer("crashy", body, "alice", headers=headers)
    assert status == 200, out
    assert len(out["outputs"][0]["data"]) == 3
    # the decompression bomb: refused by the header check inside the sandbox, nothing crashes
    body, headers = bytes_request([(IMAGE_DATA / "declared_huge.png").read_bytes()])
    status, _, out = raw.infer("crashy", body, "alice", headers=headers)
    assert status == 422 and out["findings"][0]["code"] == "image.too_many_pixels"
    # three crashing inputs: each refused with sandbox.crashed; the third opens alice's breaker
    for i in range(3):
        body, headers = bytes_request([b"KILL" + png])
        status, _, out = raw.infer("crashy", body, "alice", headers=headers)
        assert status == 422, out
        assert out["findings"][0]["code"] == "sandbox.crashed"
        assert out["findings"][0]["index"] == 0
        assert raw.infer("digits", digits_request(1), "bob")[0] == 200  # bob never notices
        _ = i
    status, headers_out, out = raw.infer("digits", digits_request(1), "alice")
    assert status == 429
    assert out["findings"][0]["code"] == "serve.circuit_open"
    assert 1 <= int(headers_out["retry-after"]) <= 30
    assert "cooling down" in out["error"]
    assert raw.infer("digits", digits_request(1), "bob")[0] == 200
    metrics = raw.request("GET", "/metrics")[2].decode()
    assert 'ks_serve_refusals_total{code="sandbox.crashed",model="crashy",tenant="alice"} 3.0' in metrics
    assert 'ks_serve_crashes_total{model="crashy",tenant="alice"} 3.0' in metrics
    assert 'ks_serve_refusals_total{code="serve.circuit_open",model="digits",tenant="alice"} 1.0' in metrics
    restarts = [
        ln
        for ln in metrics.splitlines()
        if ln.startswith('ks_serve_sandbox_restarts_total{model="crashy",tenant="alice"}')
    ]
    assert restarts and float(restarts[0].split()[-1]) >= 3


def test_not_ready_while_workers_are_down_then_ready_again(server: Any) -> None:
    raw = server.raw
    backend = server.app.state.server.backends["bob", "digits"]
    assert raw.request("GET", "/v2/health/ready")[0] == 200
    before = backend.restarts()
    for pid in backend.pids():
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    assert raw.request("GET", "/v2/models/digits/ready", headers=auth("bob"))[0] == 503
    assert raw.request("GET", "/v2/health/ready")[0] == 503
    status, _, out = raw.infer("digits", digits_request(1), "bob")
    assert status == 503 and out["findings"][0]["code"] == "serve.not_ready"
    deadline = time.monotonic() + 120
    while raw.request("GET", "/v2/models/digits/ready", headers=auth("bob"))[0] != 200:
        assert time.monotonic() < deadline, "the model's workers did not come back"
        time.sleep(0.5)
    assert backend.restarts() > before
    assert raw.infer("digits", digits_request(1), "bob")[0] == 200
    assert raw.request("GET", "/v2/health/live")[0] == 200


def test_closing_the_app_stops_every_worker(assets: dict[str, Any], tmp_path: Path) -> None:
    cfg = ks.serve.load_config(
        {
            "models": {
                "digits": {"path": str(assets["dir"] / "digits.keras"), "sha256": assets["sha256"]["digits"]}
            },
            "tenants": {"t": {"key_sha256": ks.serve.hash_key("k"), "models": ["digits"]}},
        }
    )
    app = ks.serve.app(cfg)
    pids = app.state.server.backends["t", "digits"].pids()
    assert pids
    app.state.server.close()
    time.sleep(0.5)
    for pid in pids:
        assert (
            not Path(f"/proc/{pid}").exists()
            or b"Z" in Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")")[1][:3]
        )


def test_wrong_pin_refuses_to_start(assets: dict[str, Any]) -> None:
    cfg = {
        "models": {"digits": {"path": str(assets["dir"] / "digits.keras"), "sha256": "0" * 64}},
        "tenants": {"t": {"key_sha256": ks.serve.hash_key("k"), "models": ["digits"]}},
    }
    with pytest.raises(ks.ArtifactError) as info:
        ks.serve.app(cfg)
    assert info.value.report is not None and "artifact.hash_mismatch" in info.value.report.codes
