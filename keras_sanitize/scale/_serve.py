"""``serve_deployment``: the model server, or a wrapped Keras model, as a Ray Serve deployment.

Given the config of :mod:`keras_sanitize.serve` (a ``server.toml`` path, its
dict or a ``ServeConfig``), every replica builds its own Open Inference
Protocol app with ``ks.serve.app`` (so each replica loads its models and owns
its sandbox workers) and Ray Serve's HTTP proxy forwards requests to it: the
class :class:`ServeReplica` hands the app to ``serve.ingress`` at replica start
(``__serve_build_asgi_app__``), and Ray runs its lifespan, which closes the
backends when the replica stops.

Given ``{"model": ...}`` (the older form), each replica loads the model once
(hash-pinned, scanned, ``safe_mode``) and puts it behind ``ks.wrap`` with
``on_reject="skip"``: a refused row gets a null output and its report.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from keras_sanitize.errors import ConfigError, SanitizeError
from keras_sanitize.stage import check_number

__all__ = ["SanitizedPredictor", "ServeReplica", "serve_deployment"]

_KEYS = frozenset({"model", "sha256", "inputs", "outputs", "max_items"})


def _check_config(config: Any) -> dict[str, Any]:
    if not isinstance(config, Mapping):
        raise ConfigError(f"serve_deployment: config must be a mapping. Received: {config!r:.120}")
    extra = set(config) - _KEYS
    if extra:
        raise ConfigError(f"serve_deployment: unknown config keys {sorted(extra)}; known: {sorted(_KEYS)}")
    cfg = dict(config)
    model = cfg.get("model")
    if isinstance(model, str):
        digest = cfg.get("sha256")
        if not (isinstance(digest, str) and len(digest) == 64):
            raise ConfigError(
                f"serve_deployment: a model path needs its pinned sha256 (64 hex digits). "
                f"Received: sha256={digest!r}"
            )
    elif model is None or not hasattr(model, "predict"):
        raise ConfigError(
            f"serve_deployment: config['model'] must be a .keras path (with 'sha256') or a Keras model. "
            f"Received: {model!r:.120}"
        )
    cfg["max_items"] = check_number(
        "serve_deployment", "max_items", cfg.get("max_items", 1024), minimum=1, integer=True
    )
    return cfg


class SanitizedPredictor:
    """One replica: the wrapped model and its guards (built once per replica).

    ``predict(inputs)`` takes a list of rows (numbers, nested lists, strings)
    and returns ``{"outputs": [...], "reports": [...]}`` with a null output for
    each refused row. Ray Serve calls ``__call__`` with an HTTP request whose
    JSON body is ``{"inputs": [...]}``.
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        import keras_sanitize as ks

        cfg = _check_config(config)
        model = cfg["model"]
        if isinstance(model, str):
            model = ks.load_model(model, sha256=cfg["sha256"], compile=False)
        inputs = cfg.get("inputs")
        if isinstance(inputs, Mapping):
            inputs = ks.Pipeline.from_config(inputs)
        self.max_items: int = cfg["max_items"]
        self.model = ks.wrap(model, inputs=inputs, outputs=cfg.get("outputs"), on_reject="skip")
        specs = getattr(model, "inputs", None) or []
        self.dtype = str(specs[0].dtype) if len(specs) == 1 else None

    def predict(self, inputs: Any) -> dict[str, Any]:
        """Sanitize and predict a list of rows; refused rows get ``None`` and their report."""
        if not isinstance(inputs, list) or not inputs or len(inputs) > self.max_items:
            raise ConfigError(
                f"inputs must be a non-empty list of at most {self.max_items} rows. "
                f"Received: {type(inputs).__name__} of {len(inputs) if isinstance(inputs, list) else '?'}"
            )
        if all(isinstance(x, str) for x in inputs):
            x: Any = inputs
        else:
            try:
                # a number beyond the dtype's range becomes inf here; the model's guard refuses it
                with np.errstate(over="ignore", invalid="ignore"):
                    x = np.asarray(inputs, dtype=self.dtype)
            except (TypeError, ValueError, OverflowError) as exc:
                raise ConfigError(f"inputs are not a rectangular array of {self.dtype}: {exc}") from None
        out, reports = self.model.predict(x, verbose=0, return_reports=True)
        rows = [None if not r.ok else np.asarray(o).tolist() for o, r in zip(out, reports)]
        return {"outputs": rows, "reports": [r.to_dict() for r in reports]}

    async def __call__(self, request: Any) -> Any:
        """HTTP: ``POST {"inputs": [...]}`` -> 200 with outputs and reports, or 400."""
        from starlette.responses import JSONResponse

        try:
            body = await request.json()
        except Exception:
            return JSONResponse({"error": 'the body must be JSON: {"inputs": [...]}'}, status_code=400)
        try:
            if not isinstance(body, dict) or "inputs" not in body:
                raise ConfigError("the body must be a JSON object with an 'inputs' list")
            return JSONResponse(self.predict(body["inputs"]))
        except SanitizeError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)


class ServeReplica:
    """One replica of the model server: builds ``ks.serve.app(config)`` in the replica process.

    Ray Serve constructs this with the loaded config, then calls
    ``__serve_build_asgi_app__`` (``serve.ingress()`` without an app) and serves
    the returned ASGI app behind its HTTP proxy. Nothing but the config is
    pickled: models, sandboxes and tenant states are built per replica.
    """

    def __init__(self, config: Any, backend: str = "sandbox") -> None:
        self.config = config
        self.backend = backend
        self.server_app: Any = None  # (``app`` is Ray's property, set from what the builder returns)

    def __serve_build_asgi_app__(self) -> Any:
        """Load the models (pinned, scanned), start the backends and return the Starlette app."""
        import keras_sanitize as ks
        from keras_sanitize.serve._run import access_log_to_stderr

        if self.config.server.access_log:
            access_log_to_stderr()
        self.server_app = ks.serve.app(self.config, backend=self.backend)
        return self.server_app

    def describe(self) -> dict[str, Any]:
        """This replica's process id and the kind of backend of each (tenant, model) pair.

        Call it through a handle (``handle.describe.remote().result()``) to see
        where a replica runs and that its models run in sandbox workers.
        """
        server = getattr(getattr(self.server_app, "state", None), "server", None)
        backends = {} if server is None else server.backends
        return {
            "pid": os.getpid(),
            "backend": self.backend,
            "backends": {f"{t}/{m}": type(b).__name__ for (t, m), b in sorted(backends.items())},
        }

    def check_health(self) -> None:
        """Ray Serve's health check: fails (and Ray replaces the replica) when a backend is down."""
        server = getattr(getattr(self.server_app, "state", None), "server", None)
        if server is not None and not all(b.ready() for b in server.backends.values()):
            raise SanitizeError("a model backend of this replica is not ready (Ray replaces the replica)")


def _is_predict_config(config: Any) -> bool:
    return isinstance(config, Mapping) and "model" in config


def _load_serve_config(config: Any) -> Any:
    """The serve package's config, with relative paths made absolute here (replicas run elsewhere)."""
    from keras_sanitize.serve import ServeConfig, load_config
    from keras_sanitize.serve._config import config_from_dict

    if isinstance(config, ServeConfig):
        return config
    if isinstance(config, Mapping):
        return config_from_dict(config, Path.cwd())
    if isinstance(config, (str, os.PathLike)):
        return load_config(Path(os.fspath(config)).expanduser().resolve())
    raise ConfigError(
        "serve_deployment: config must be a server.toml path, its dict, a ks.serve.ServeConfig, "
        f"or {{'model': ...}} for a wrapped model. Received: {type(config).__name__}"
    )


def serve_deployment(
    config: str | os.PathLike[str] | Mapping[str, Any] | Any,
    *,
    num_replicas: int = 1,
    name: str = "keras_sanitize",
    num_cpus: float = 1.0,
    backend: str | None = None,
) -> Any:
    """A Ray Serve application: ``num_replicas`` replicas of the model server (or of a wrapped model).

    Args:
        config: the model server's config, as ``ks.serve.app`` takes it — a
            ``server.toml`` path, its dict, or a ``ks.serve.ServeConfig`` —
            loaded and checked here (relative paths resolve from the TOML's
            folder, or from the current directory for a dict), then shipped to
            the replicas, each of which builds its own app: tenants, keys,
            token buckets and limits are per replica. ``[server]`` host, port,
            TLS and ``max_connections`` do not apply: Ray Serve's HTTP proxy
            listens (``serve.start(http_options=...)``). The older form
            ``{"model": path_or_model, "sha256": ..., "inputs": pipeline (or its
            config), "outputs": stage, "max_items": 1024}`` serves
            ``ks.wrap(model).predict`` instead (``POST {"inputs": [...]}``).
        num_replicas: replicas (each loads its models once and owns its sandbox workers).
        name: the deployment's name.
        num_cpus: CPUs reserved per replica (sandbox workers run beside it; reserve for them too).
        backend: for a server config, ``"sandbox"`` (default) or ``"in-process"``, as in
            ``ks.serve.app``; not allowed with the ``{"model": ...}`` form.

    Returns:
        A bound application for ``ray.serve.run(app)``.

    Raises:
        ConfigError: on a bad config or argument, before Ray is touched.

    Example:
        >>> serve_deployment({"model": "m.keras"})
        Traceback (most recent call last):
        ...
        keras_sanitize.errors.ConfigError: serve_deployment: a model path needs its pinned sha256...
    """
    check_number("serve_deployment", "num_replicas", num_replicas, minimum=1, integer=True)
    check_number("serve_deployment", "num_cpus", num_cpus, minimum=0)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"serve_deployment: name must be a non-empty string. Received: {name!r:.80}")
    server_config: Any = None
    predict_config: dict[str, Any] = {}
    if _is_predict_config(config):
        predict_config = _check_config(config)
        if backend is not None:
            raise ConfigError(
                "serve_deployment: backend= applies to a server config, not to {'model': ...}. "
                f"Received: backend={backend!r:.40}"
            )
    else:
        from keras_sanitize.serve import _factory

        _factory(backend or "sandbox")  # a ConfigError for an unknown backend
        server_config = _load_serve_config(config)
    try:
        from ray import serve
    except ImportError:
        raise ConfigError("serve_deployment needs Ray Serve: pip install 'keras-sanitize[ray]'") from None
    options: dict[str, Any] = {
        "name": name,
        "num_replicas": num_replicas,
        "ray_actor_options": {"num_cpus": num_cpus},
    }
    if server_config is None:
        return serve.deployment(**options)(SanitizedPredictor).bind(predict_config)
    ingress = serve.ingress()(ServeReplica)
    return serve.deployment(**options)(ingress).bind(server_config, backend or "sandbox")
