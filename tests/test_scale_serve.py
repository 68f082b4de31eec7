"""``ks.scale.serve_deployment`` on a real local Ray Serve (its own module-scoped local Ray): the
model server of ``keras_sanitize.serve`` behind Ray Serve's HTTP proxy, and the older wrapped-model form."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keras_sanitize as ks

pytestmark = [
    pytest.mark.xdist_group("ray"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    # ray.init forks; JAX, when an earlier test loaded it, warns that fork and threads mix badly.
    pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning"),
]

pytest.importorskip("ray", reason="the ray extra is not installed (pip install keras-sanitize[ray])")
pytest.importorskip(
    "starlette", reason="the serve extra is not installed (pip install keras-sanitize[serve])"
)

KEY = "alice-ray-key-0123456789"


def _server_config(folder: Path) -> dict[str, Any]:
    import keras

    model = keras.Sequential([keras.Input((4,), name="x"), keras.layers.Dense(2, name="y")])
    model.save(folder / "tiny.keras")
    return {
        "models": {"tiny": {"path": "tiny.keras", "sha256": ks.artifacts.sha256(folder / "tiny.keras")}},
        "tenants": {"alice": {"key_sha256": ks.serve.hash_key(KEY), "models": ["tiny"]}},
    }


def test_bad_server_config_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ks.ConfigError, match="at least one"):
        ks.scale.serve_deployment({})
    with pytest.raises(ks.ConfigError, match="cannot read"):
        ks.scale.serve_deployment(tmp_path / "missing.toml")
    with pytest.raises(ks.ConfigError, match="backend"):
        ks.scale.serve_deployment({"models": {}}, backend="gpu")
    with pytest.raises(ks.ConfigError, match="backend"):
        ks.scale.serve_deployment({"model": "m.keras", "sha256": "0" * 64}, backend="sandbox")
    with pytest.raises(ks.ConfigError, match="config must be"):
        ks.scale.serve_deployment(42)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=12,
)
_KEYS = st.sampled_from(["models", "tenants", "server", "limits", "model", "sha256", "max_items", "x"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    config=st.dictionaries(_KEYS, _JSON, max_size=4) | _JSON,
    num_replicas=st.one_of(st.integers(-2, 3), st.floats(allow_nan=True), st.text(max_size=3)),
    backend=st.one_of(st.none(), st.sampled_from(["sandbox", "in-process", "gpu", ""])),
)
def test_any_config_is_an_app_or_a_config_error(config: Any, num_replicas: Any, backend: Any) -> None:
    """Hostile configs and arguments: a bound app (never here: no valid model) or a ConfigError."""
    try:
        ks.scale.serve_deployment(config, num_replicas=num_replicas, backend=backend)
    except ks.ConfigError:
        return
    raise AssertionError(f"accepted {config!r:.200}")


def test_relative_model_paths_resolve_before_shipping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = {
        "models": {"tiny": {"path": "tiny.keras", "sha256": "0" * 64}},
        "tenants": {"alice": {"key_sha256": ks.serve.hash_key(KEY), "models": ["tiny"]}},
    }
    monkeypatch.chdir(tmp_path)
    app = ks.scale.serve_deployment(cfg, num_replicas=2)
    (shipped, backend) = app._bound_deployment.init_args
    assert backend == "sandbox"
    assert Path(shipped.models["tiny"].path) == tmp_path / "tiny.keras"
    assert app._bound_deployment.num_replicas == 2


def test_replica_builds_its_own_app_and_fails_its_health_check_when_a_backend_is_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The replica class without Ray: builds the app from the shipped config; health follows backends."""
    from keras_sanitize.scale._serve import ServeReplica, _load_serve_config

    monkeypatch.chdir(tmp_path)  # the dict's relative model path resolves from here
    shipped = _load_serve_config(_server_config(tmp_path))
    monkeypatch.chdir("/")  # ... and not from the replica's directory
    replica = ServeReplica(shipped, backend="in-process")
    with pytest.raises(ks.ConfigError, match="at least one"):
        ServeReplica(_load_serve_config({}))
    replica.check_health()  # nothing built yet: healthy (Ray calls it only after start-up)
    app = replica.__serve_build_asgi_app__()
    assert replica.describe()["backends"] == {"alice/tiny": "InProcessBackend"}
    replica.check_health()
    app.state.server.close()
    with pytest.raises(ks.SanitizeError, match="not ready"):
        replica.check_health()


def test_bad_config_is_a_config_error() -> None:
    with pytest.raises(ks.ConfigError, match="sha256"):
        ks.scale.serve_deployment({"model": "model.keras"})
    with pytest.raises(ks.ConfigError, match="unknown config keys"):
        ks.scale.serve_deployment({"model": "m.keras", "sha256": "0" * 64, "replicas": 2})
    with pytest.raises(ks.ConfigError, match="num_replicas"):
        ks.scale.serve_deployment({"model": "m.keras", "sha256": "0" * 64}, num_replicas=0)


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    from _ray_fixture import local_ray_session

    with local_ray_session() as session:
        yield session


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_serve_deployment_predicts_and_refuses(local_ray: Any) -> None:
    import keras
    import numpy as np
    from ray import serve

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    app = ks.scale.serve_deployment({"model": model}, num_replicas=1, num_cpus=0.5)
    handle = serve.run(app, name="ks_test", route_prefix=None)
    try:
        x = [[0.1, 0.2, 0.3], [1.0, 2.0], [0.0, 0.0, 0.0]]
        with pytest.raises(Exception, match="rectangular"):
            handle.predict.remote(x).result(timeout_s=60)
        good = handle.predict.remote([[0.1, 0.2, 0.3], [float("nan"), 0, 0]]).result(timeout_s=60)
        want = model.predict(np.array([[0.1, 0.2, 0.3]], "float32"), verbose=0)[0]
        np.testing.assert_allclose(good["outputs"][0], want, rtol=1e-5)
        assert good["outputs"][1] is None
        assert [r["ok"] for r in good["reports"]] == [True, False]
        assert good["reports"][1]["findings"][0]["code"] == "tensor.non_finite"
    finally:
        serve.delete("ks_test")
        serve.shutdown()


def _descendants_running(needle: str, pid: int) -> bool:
    """Whether a process whose command line contains ``needle`` descends from ``pid`` (Linux /proc)."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            commands[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    for child, command in commands.items():
        p = child
        while needle in command and p > 1:
            p = parents.get(p, 0)
            if p == pid:
                return True
    return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_serve_deployment_runs_the_model_server(local_ray: Any, tmp_path: Path) -> None:
    """The OIP app behind Ray Serve's HTTP proxy: KServe v2 with a tenant key, 401, readiness."""
    import numpy as np
    from _serve import Raw
    from ray import serve

    httpclient = pytest.importorskip("tritonclient.http")
    cfg = _server_config(tmp_path)
    (model_cfg,) = cfg["models"].values()
    (tmp_path / "server.toml").write_text(
        f'[models.tiny]\npath = "{model_cfg["path"]}"\nsha256 = "{model_cfg["sha256"]}"\n\n'
        f'[tenants.alice]\nkey_sha256 = "{ks.serve.hash_key(KEY)}"\nmodels = ["tiny"]\n',
        encoding="utf-8",
    )
    port = _free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        # the default backend: the replica starts its own sandbox workers for the model
        app = ks.scale.serve_deployment(tmp_path / "server.toml", num_replicas=1, num_cpus=0.5)
        handle = serve.run(app, name="ks_oip", route_prefix="/")
        info = handle.describe.remote().result(timeout_s=60)
        assert info["backends"] == {"alice/tiny": "SandboxBackend"}
        # the replica owns its sandbox workers: they are its descendants
        assert _descendants_running("keras_sanitize.sandbox._worker", info["pid"]), info
        raw = Raw(port, timeout=60)
        status, _, doc = raw.request("GET", "/v2/health/ready")
        assert (status, doc) == (200, {"ready": True})

        x = np.array([[1, 2, 3, 4], [np.nan, 0, 0, 0]], np.float32)
        client = httpclient.InferenceServerClient(f"127.0.0.1:{port}", network_timeout=60)
        try:
            inp = httpclient.InferInput("x", [2, 4], "FP32")
            inp.set_data_from_numpy(x)
            result = client.infer("tiny", [inp], headers={"Authorization": f"Bearer {KEY}"})
        finally:
            client.close()
        model = ks.load_model(tmp_path / "tiny.keras", sha256=model_cfg["sha256"])
        want = np.asarray(model.predict(x[:1], verbose=0))[0]
        got = result.as_numpy("y")
        assert got.shape == (2, 2)
        np.testing.assert_allclose(got[0], want, rtol=1e-5)
        findings = result.get_response()["findings"]
        assert [(f["index"], f["code"]) for f in findings] == [(1, "tensor.non_finite")]

        body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}
        status, _, doc = raw.request(
            "POST",
            "/v2/models/tiny/infer",
            json.dumps(body).encode(),
            {"Content-Type": "application/json", "Authorization": "Bearer wrong-key"},
        )
        assert status == 401, doc
        assert [f["code"] for f in doc["findings"]] == ["serve.unauthorized"]
    finally:
        serve.shutdown()
