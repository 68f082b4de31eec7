"""``ks.scale.serve_deployment`` on a real local Ray Serve (its own module-scoped local Ray)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

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
