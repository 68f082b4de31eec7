"""``serve_deployment``: a wrapped Keras model as a Ray Serve deployment with ``num_replicas``.

Each replica loads the model once (hash-pinned, scanned, ``safe_mode``) and
puts it behind ``ks.wrap`` with ``on_reject="skip"``: a refused row gets a
null output and its report, the others are predicted. This wraps
``ks.wrap(model).predict``; the Open Inference Protocol app of
``keras_sanitize.serve`` is not wrapped here yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from keras_sanitize.errors import ConfigError, SanitizeError
from keras_sanitize.stage import check_number

__all__ = ["SanitizedPredictor", "serve_deployment"]

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


def serve_deployment(
    config: Mapping[str, Any],
    *,
    num_replicas: int = 1,
    name: str = "keras_sanitize",
    num_cpus: float = 1.0,
) -> Any:
    """A Ray Serve application: ``num_replicas`` replicas of a sanitized model.

    Args:
        config: ``{"model": path_or_model, "sha256": ..., "inputs": pipeline
            (or its config), "outputs": stage, "max_items": 1024}``.
        num_replicas: replicas (each loads the model once).
        name: the deployment's name.
        num_cpus: CPUs reserved per replica.

    Returns:
        A bound application for ``ray.serve.run(app)``.

    Example:
        >>> serve_deployment({"model": "m.keras"})
        Traceback (most recent call last):
        ...
        keras_sanitize.errors.ConfigError: serve_deployment: a model path needs its pinned sha256...
    """
    _check_config(config)
    check_number("serve_deployment", "num_replicas", num_replicas, minimum=1, integer=True)
    check_number("serve_deployment", "num_cpus", num_cpus, minimum=0)
    try:
        from ray import serve
    except ImportError:
        raise ConfigError("serve_deployment needs Ray Serve: pip install 'keras-sanitize[ray]'") from None
    deployment = serve.deployment(
        name=name, num_replicas=num_replicas, ray_actor_options={"num_cpus": num_cpus}
    )(SanitizedPredictor)
    return deployment.bind(dict(config))
