"""The model server with real clients: tritonclient over HTTP and TLS (and mutual TLS), metrics,
access logs, the CLI, config checking, and Hypothesis properties of the parsing and admission code."""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
httpclient = pytest.importorskip("tritonclient.http")
from _serve import IMAGE_DATA, KEYS, ROOT, Raw, auth, config, digits_request, make_assets  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

import keras_sanitize as ks  # noqa: E402
from keras_sanitize.serve._guards import Breaker, KeyRing, TokenBucket  # noqa: E402
from keras_sanitize.serve._protocol import ProtocolError, json_depth, parse_infer  # noqa: E402

# The HTTP layer is what these tests exercise: they run models in-process for speed.
# tests/test_serve_sandbox.py runs the same server on the default sandbox backend.
BACKEND = "in-process"

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return make_assets(tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="module")
def plain(assets: dict[str, Any]) -> Iterator[Any]:
    cfg = ks.serve.load_config(config(assets))
    app = ks.serve.app(cfg, backend=BACKEND)
    with ks.serve.BackgroundServer(app, cfg, insecure_dev=True) as srv:
        srv.app = app
        yield srv


@pytest.fixture(scope="module")
def tls(assets: dict[str, Any]) -> Iterator[Any]:
    cfg = ks.serve.load_config(config(assets, tls=True))
    with ks.serve.BackgroundServer(ks.serve.app(cfg, backend=BACKEND), cfg) as srv:
        yield srv


def client(port: int, cafile: Path | None = None, **ssl_options: Any) -> Any:
    if cafile is None:
        return httpclient.InferenceServerClient(f"127.0.0.1:{port}", network_timeout=30)
    return httpclient.InferenceServerClient(
        f"127.0.0.1:{port}",
        ssl=True,
        ssl_options={"ca_certs": str(cafile), **ssl_options},
        network_timeout=30,
    )


def local_predict(assets: dict[str, Any], x: np.ndarray) -> np.ndarray:
    model = ks.load_model(assets["dir"] / "digits.keras", sha256=assets["sha256"]["digits"])
    return np.asarray(model.predict(x, verbose=0))


def _roundtrip(c: Any, assets: dict[str, Any]) -> None:
    assert c.is_server_live() and c.is_server_ready()
    assert c.is_model_ready("digits", headers=auth("alice"))
    meta = c.get_model_metadata("digits", headers=auth("alice"))
    assert meta["inputs"] == [{"name": "pixels", "datatype": "FP32", "shape": [-1, 64]}]
    assert meta["outputs"][0]["name"] == "probs"
    x = np.random.default_rng(0).random((3, 64), dtype=np.float32)
    want = local_predict(assets, x)
    for binary in (True, False):
        inp = httpclient.InferInput("pixels", [3, 64], "FP32")
        inp.set_data_from_numpy(x, binary_data=binary)
        out = httpclient.InferRequestedOutput("probs", binary_data=binary)
        result = c.infer("digits", [inp], outputs=[out], headers=auth("alice"), request_id=f"r-{binary}")
        got = result.as_numpy("probs")
        assert got.shape == (3, 10)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        assert result.get_response()["id"] == f"r-{binary}"


def test_tritonclient_over_http(plain: Any, assets: dict[str, Any]) -> None:
    c = client(plain.port)
    try:
        _roundtrip(c, assets)
    finally:
        c.close()


def test_tritonclient_over_tls(tls: Any, assets: dict[str, Any]) -> None:
    c = client(tls.port, assets["cert"])
    try:
        _roundtrip(c, assets)
        index = c.get_model_repository_index(headers=auth("bob"))
        assert sorted(m["name"] for m in index) == ["digits", "secret"]
    finally:
        c.close()
    with pytest.raises(Exception):  # noqa: B017 - a plain-HTTP client cannot talk to the TLS port
        plain_client = client(tls.port)
        try:
            plain_client.is_server_live()
        finally:
            plain_client.close()


def test_tritonclient_sees_status_and_message_of_refusals(plain: Any) -> None:
    c = client(plain.port)
    inp = httpclient.InferInput("pixels", [1, 64], "FP32")
    inp.set_data_from_numpy(np.zeros((1, 64), np.float32))
    try:
        for headers, model, status in (
            ({}, "digits", "401"),
            (auth("alice"), "secret", "403"),
            (auth("alice"), "nope", "404"),
        ):
            with pytest.raises(InferenceServerException) as info:
                c.infer(model, [inp], headers=dict(headers))
            assert info.value.status() == status
            assert info.value.message()
        assert not c.is_model_ready("secret", headers=auth("alice"))
    finally:
        c.close()


def test_tritonclient_sends_raw_image_bytes(plain: Any) -> None:
    png = (IMAGE_DATA / "gradient.png").read_bytes()
    inp = httpclient.InferInput("image", [2], "BYTES")
    inp.set_data_from_numpy(np.array([png, png], dtype=np.object_))
    c = client(plain.port)
    try:
        result = c.infer("images", [inp], headers=auth("alice"))
        out = result.as_numpy("cls")
        assert out.shape == (2, 3) and np.isfinite(out).all()
        np.testing.assert_allclose(out[0], out[1])
    finally:
        c.close()


def _ca_signed_client_cert(assets: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ca_cert = x509.load_pem_x509_certificate(Path(assets["cert"]).read_bytes())
    ca_key = serialization.load_pem_private_key(Path(assets["key"]).read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tenant-client")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    certfile, keyfile = folder / "client.pem", folder / "client.key"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return certfile, keyfile


def test_mutual_tls(assets: dict[str, Any], tmp_path: Path) -> None:
    raw_cfg = config(assets, tls=True)
    raw_cfg["server"]["client_ca"] = str(assets["cert"])  # the self-signed server cert is also the CA
    raw_cfg["models"] = {"digits": raw_cfg["models"]["digits"]}
    raw_cfg["tenants"] = {"alice": {**raw_cfg["tenants"]["alice"], "models": ["digits"]}}
    cfg = ks.serve.load_config(raw_cfg)
    certfile, keyfile = _ca_signed_client_cert(assets, tmp_path)
    with ks.serve.BackgroundServer(ks.serve.app(cfg, backend=BACKEND), cfg) as srv:
        good = client(srv.port, assets["cert"], certfile=str(certfile), keyfile=str(keyfile))
        try:
            assert good.is_model_ready("digits", headers=auth("alice"))
        finally:
            good.close()
        anonymous = client(srv.port, assets["cert"])
        try:
            with pytest.raises(Exception):  # noqa: B017 - the TLS handshake fails without a client cert
                anonymous.is_server_live()
        finally:
            anonymous.close()


def test_metrics_count_per_tenant_model_and_code(plain: Any) -> None:
    raw = Raw(plain.port)
    for _ in range(3):
        assert raw.infer("digits", digits_request(2), "bob")[0] == 200
    assert (
        raw.infer(
            "digits",
            {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]},
            "bob",
        )[0]
        == 422
    )
    assert raw.infer("secret", digits_request(1), "alice")[0] == 403
    status, headers, text = raw.request("GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    body = text.decode()
    assert 'ks_serve_requests_total{model="digits",status="200",tenant="bob"}' in body
    assert 'ks_serve_refusals_total{code="tensor.shape",model="digits",tenant="bob"} 1.0' in body
    assert 'ks_serve_refusals_total{code="serve.forbidden",model="-",tenant="alice"}' in body
    assert 'ks_serve_items_total{model="digits",tenant="bob"}' in body
    assert 'ks_serve_request_seconds_bucket{le="0.5",model="digits",tenant="bob"}' in body
    assert 'ks_serve_in_flight{model="digits",tenant="bob"} 0.0' in body
    assert 'ks_serve_model_ready{model="secret",tenant="bob"} 1.0' in body
    assert 'ks_serve_sandbox_restarts_total{model="digits",tenant="alice"} 0.0' in body
    # nothing a client chose (paths, unknown names) becomes a label
    raw.infer("zzz-unknown", digits_request(1), "bob")
    assert "zzz-unknown" not in raw.request("GET", "/metrics")[2].decode()


def test_metrics_key(assets: dict[str, Any]) -> None:
    raw_cfg = config(assets)
    raw_cfg["server"]["metrics_key_sha256"] = ks.serve.hash_key("scraper-key")
    cfg = ks.serve.load_config(raw_cfg)
    with ks.serve.BackgroundServer(ks.serve.app(cfg, backend=BACKEND), cfg, insecure_dev=True) as srv:
        raw = Raw(srv.port)
        assert raw.request("GET", "/metrics")[0] == 401
        assert raw.request("GET", "/metrics", headers=auth("alice"))[0] == 401
        assert raw.request("GET", "/metrics", headers={"Authorization": "Bearer scraper-key"})[0] == 200


def test_access_log_is_one_json_line_per_request_without_input(
    plain: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="keras_sanitize.serve.access")
    raw = Raw(plain.port)
    marker = 0.123456789
    raw.infer("digits", digits_request(1, fill=marker, rid="log-1"), "alice")
    raw.infer("digits", b'{"inputs": "SECRET-INPUT-MARKER"}', "alice", headers={"x-request-id": "log-2"})
    raw.infer("digits", digits_request(1), None, headers={"x-request-id": "log-3"})
    lines = [r.getMessage() for r in caplog.records if r.name == "keras_sanitize.serve.access"]
    docs = [json.loads(line) for line in lines]
    assert all("\n" not in line for line in lines)
    by_id = {d["id"]: d for d in docs}
    assert by_id["log-2"]["status"] == 400 and by_id["log-2"]["codes"] == ["serve.bad_request"]
    assert by_id["log-3"]["status"] == 401 and by_id["log-3"]["tenant"] == "-"
    one = [d for d in docs if d["tenant"] == "alice" and d["status"] == 200][-1]
    assert set(one) == {
        "ts",
        "id",
        "client",
        "method",
        "path",
        "tenant",
        "model",
        "status",
        "codes",
        "items",
        "bytes_in",
        "bytes_out",
        "ms",
    }
    assert one["items"] == 1 and one["model"] == "digits"
    text = "\n".join(lines)
    assert "SECRET-INPUT-MARKER" not in text and "0.123456" not in text and KEYS["alice"] not in text


def test_not_ready_while_a_backend_is_down(assets: dict[str, Any]) -> None:
    raw_cfg = config(assets)
    cfg = ks.serve.load_config(raw_cfg)
    app = ks.serve.app(cfg, backend=BACKEND)
    with ks.serve.BackgroundServer(app, cfg, insecure_dev=True) as srv:
        raw = Raw(srv.port)
        assert raw.request("GET", "/v2/health/ready")[0] == 200
        app.state.server.backends["bob", "secret"].close()
        assert raw.request("GET", "/v2/health/ready")[0] == 503
        assert raw.request("GET", "/v2/health/live")[0] == 200
        assert raw.request("GET", "/v2/models/secret/ready", headers=auth("bob"))[0] == 503
        status, headers, doc = raw.infer("secret", {"inputs": []}, "bob")
        assert status == 503 and doc["findings"][0]["code"] == "serve.not_ready" and headers["retry-after"]
        assert raw.infer("digits", digits_request(1), "bob")[0] == 200  # the others keep serving
        assert (
            'ks_serve_model_ready{model="secret",tenant="bob"} 0.0'
            in raw.request("GET", "/metrics")[2].decode()
        )


# -- the command line and the example -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_example_serves_tls_to_tritonclient(tmp_path: Path) -> None:
    """README's recipe: make_example.py, then `keras-sanitize serve --config .../server.toml`."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT)}
    made = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "serve" / "make_example.py"), "--out", str(tmp_path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert made.returncode == 0, made.stderr
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "keras_sanitize",
            "serve",
            "--config",
            str(tmp_path / "server.toml"),
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        c = client(port, tmp_path / "server.pem")
        deadline = time.monotonic() + 90
        while True:
            try:
                if c.is_server_ready():
                    break
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        inp = httpclient.InferInput("pixels", [1, 64], "FP32")
        inp.set_data_from_numpy(np.full((1, 64), 0.5, np.float32))
        probs = c.infer("digits", [inp], headers={"Authorization": "Bearer alice-demo-key"}).as_numpy("probs")
        assert probs.shape == (1, 10) and abs(float(probs.sum()) - 1.0) < 1e-4
        c.close()
        example = subprocess.run(
            [
                sys.executable,
                str(ROOT / "examples" / "serve" / "client.py"),
                "--url",
                f"127.0.0.1:{port}",
                "--ca",
                str(tmp_path / "server.pem"),
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert example.returncode == 0, example.stderr
        assert "refused: [(1, 'tensor.non_finite')]" in example.stdout
        assert "wrong key: 401" in example.stdout
    finally:
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    access = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(a["tenant"] == "alice" and a["status"] == 200 for a in access), err[-2000:]


def test_cli_refuses_plain_http_without_insecure_dev(
    assets: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from keras_sanitize.cli import main

    cfg = config(assets)
    lines = [
        "[server]",
        'host = "0.0.0.0"',
        "port = 8000",
        "[models.digits]",
        f'path = "{cfg["models"]["digits"]["path"]}"',
        f'sha256 = "{cfg["models"]["digits"]["sha256"]}"',
        "[tenants.alice]",
        f'key_sha256 = "{ks.serve.hash_key("k")}"',
        'models = ["digits"]',
    ]
    path = tmp_path / "server.toml"
    path.write_text("\n".join(lines))
    assert main(["serve", "--config", str(path), "--check"]) == 2
    assert "certfile" in capsys.readouterr().err
    assert main(["serve", "--config", str(path), "--check", "--insecure-dev"]) == 2
    assert "loopback" in capsys.readouterr().err
    path.write_text("\n".join(lines).replace("0.0.0.0", "127.0.0.1"))
    assert main(["serve", "--config", str(path), "--check", "--insecure-dev", "--backend", "in-process"]) == 0
    assert "plain HTTP" in capsys.readouterr().out
    assert main(["serve", "--config", str(tmp_path / "missing.toml"), "--check"]) == 2
    assert "cannot read" in capsys.readouterr().err
    cfg["server"]["certfile"], cfg["server"]["keyfile"] = str(assets["cert"]), str(assets["key"])
    lines[1:3] = ['host = "127.0.0.1"', f'certfile = "{assets["cert"]}"', f'keyfile = "{assets["key"]}"']
    path.write_text("\n".join(lines))
    assert main(["serve", "--config", str(path), "--check", "--backend", "in-process"]) == 0
    assert "TLS on 127.0.0.1" in capsys.readouterr().out


# -- configuration -------------------------------------------------------------------------------------


def _base() -> dict[str, Any]:
    return {
        "models": {"m": {"path": "m.keras", "sha256": "a" * 64}},
        "tenants": {"t": {"key_sha256": "b" * 64, "models": ["m"]}},
    }


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda c: c["tenants"]["t"].update(key="plain"), "must not hold the key"),
        (lambda c: c["tenants"]["t"].update(models=["other"]), "not configured"),
        (lambda c: c["tenants"]["t"].update(rate=0), "rate"),
        (lambda c: c["tenants"]["t"].update(burst=1.5), "burst"),
        (lambda c: c["tenants"]["t"].update(max_json_depth=3), "unknown"),
        (lambda c: c["tenants"]["t"].update(key_sha256="xyz"), "64 hex"),
        (lambda c: c["tenants"].update(u={"key_sha256": "b" * 64, "models": ["m"]}), "share one key"),
        (lambda c: c["models"].update({"../x": {"path": "x", "sha256": "a" * 64}}), "names must match"),
        (lambda c: c["models"]["m"].pop("sha256"), "pinned"),
        (lambda c: c["models"]["m"].update(inputs="no-such-policy.toml"), "policy file"),
        (lambda c: c["models"]["m"].update(workers=0), "workers"),
        (lambda c: c["models"]["m"].update(shared="yes"), "shared"),
        (lambda c: c.update(server={"certfile": "a.pem"}), "together"),
        (lambda c: c.update(server={"port": 70000}), "port"),
        (lambda c: c.update(server={"http": "spdy"}), "httptools"),
        (lambda c: c.update(limits={"request_timeout": float("nan")}), "request_timeout"),
        (lambda c: c.update(extra={}), "unknown top-level"),
        (lambda c: c.update(tenants={}), "tenants"),
    ],
)
def test_config_errors_name_the_key(change: Any, needle: str) -> None:
    cfg = _base()
    change(cfg)
    with pytest.raises(ks.ConfigError, match=needle):
        ks.serve.load_config(cfg)


def test_config_keys_of_the_issue_work_exactly(tmp_path: Path) -> None:
    text = (ROOT / "examples" / "serve" / "server.toml").read_text()
    path = tmp_path / "server.toml"
    path.write_text(text)
    cfg = ks.serve.load_config(path)
    assert cfg.server.certfile == str(tmp_path / "server.pem") and cfg.server.port == 8443
    alice = cfg.tenants["alice"]
    assert (
        alice.limits.rate,
        alice.limits.burst,
        alice.limits.max_concurrency,
        alice.limits.max_body_bytes,
    ) == (20.0, 40, 4, 1048576)
    assert alice.models == ("digits",) and alice.key_sha256 == ks.serve.hash_key("alice-demo-key")
    model = cfg.models["digits"]
    assert (model.inputs, model.workers, model.shared) == ("tensor", 1, False)
    assert alice.limits.max_batch == 32  # from [limits]


@given(
    st.dictionaries(
        st.sampled_from(["server", "models", "tenants", "limits", "x"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=8),
            lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
            max_leaves=12,
        ),
    )
)
@settings(max_examples=60, deadline=None)
def test_load_config_raises_only_config_error(data: dict[str, Any]) -> None:
    with contextlib.suppress(ks.ConfigError):
        ks.serve.load_config(data)


# -- parsing and admission properties ------------------------------------------------------------------


@given(st.binary(max_size=600), st.none() | st.text(max_size=6))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_parse_infer_raises_only_protocol_error(body: bytes, header: str | None) -> None:
    try:
        parse_infer(body, header, ks.serve.DEFAULT_LIMITS)
    except ProtocolError as exc:
        assert 400 <= exc.status < 500 and exc.finding.code.startswith("serve.")


_json = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
    max_leaves=20,
)


def _depth(v: Any) -> int:
    if isinstance(v, list):
        return 1 + max((_depth(x) for x in v), default=0)
    if isinstance(v, dict):
        return 1 + max((_depth(x) for x in v.values()), default=0)
    return 0


@given(_json)
@settings(max_examples=300, deadline=None)
def test_json_depth_matches_the_structure(value: Any) -> None:
    assert json_depth(json.dumps(value).encode()) == _depth(value)


@given(st.lists(st.floats(0, 0.5), min_size=1, max_size=200), st.floats(0.5, 50), st.integers(1, 20))
@settings(max_examples=200, deadline=None)
def test_token_bucket_never_grants_more_than_rate_allows(gaps: list[float], rate: float, burst: int) -> None:
    now = [0.0]
    bucket = TokenBucket(rate, burst, clock=lambda: now[0])
    granted = 0
    for gap in gaps:
        now[0] += gap
        wait = bucket.take()
        if wait == 0.0:
            granted += 1
        else:
            assert 0 < wait <= 1 / rate + 1e-9
    assert granted <= burst + rate * now[0] + 1e-6


def test_breaker_opens_after_n_crashes_in_the_window_and_closes_after_cooldown() -> None:
    now = [0.0]
    breaker = Breaker(crashes=2, window=60.0, cooldown=30.0, clock=lambda: now[0])
    assert not breaker.record() and not breaker.record()
    now[0] = 61.0  # the first two fell out of the window
    assert not breaker.record() and not breaker.record()
    assert breaker.record()  # a third within the window
    assert 29.0 < breaker.remaining() <= 30.0
    now[0] += 30.5
    assert breaker.remaining() == 0.0


@given(st.text(max_size=40))
@settings(max_examples=200, deadline=None)
def test_keyring_matches_only_the_exact_key(key: str) -> None:
    ring = KeyRing(ks.serve.load_config(config_for_ring()).tenants.values())
    assert ring.lookup(key) == ("t" if key == "the-key" else None)


def config_for_ring() -> dict[str, Any]:
    c = _base()
    c["tenants"]["t"]["key_sha256"] = ks.serve.hash_key("the-key")
    return c


def test_import_keras_sanitize_serve_stays_light() -> None:
    code = (
        "import sys, keras_sanitize as ks\n"
        "ks.serve.ServeLimits(); ks.serve.load_config\n"
        "mods = ('starlette', 'uvicorn', 'prometheus_client', 'keras', 'jax')\n"
        "heavy = [m for m in mods if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run(
        [sys.executable, "-c", code], check=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )


def test_shared_models_are_announced_and_use_one_backend(
    assets: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="keras_sanitize.serve")
    cfg = ks.serve.load_config(config(assets))
    app = ks.serve.app(cfg, backend=BACKEND)
    try:
        backends = app.state.server.backends
        assert backends["alice", "digits"] is backends["bob", "digits"] is backends["flood", "digits"]
        assert backends["alice", "images"] is not backends["slow", "images"]  # not shared: one per pair
        warned = [r.getMessage() for r in caplog.records if r.name == "keras_sanitize.serve"]
        assert len(warned) == 1 and "'digits' is shared" in warned[0] and "same worker processes" in warned[0]
    finally:
        app.state.server.close()
