"""A multi-tenant Open Inference Protocol (KServe v2) model server.

``ks.serve.app(config)`` returns a Starlette ASGI app; ``keras-sanitize serve
--config server.toml`` runs it with uvicorn over TLS. Tenants authenticate with
``Authorization: Bearer <key>`` (only the key's SHA-256 is configured); each has
its own token bucket, concurrency cap, body, batch and time limits and a circuit
breaker; every refusal is a JSON body with the library's finding codes; metrics
are served in Prometheus format at ``/metrics``.

Needs the ``serve`` extra (``pip install keras-sanitize[serve]``).

Example:
    >>> import keras_sanitize as ks
    >>> ks.serve.ServeLimits(rate=5.0).rate
    5.0
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from keras_sanitize.errors import ConfigError

from ._config import ModelConfig, ServeConfig, ServerSettings, TenantConfig, load_config
from ._limits import DEFAULT_LIMITS, TENANT_KEYS, ServeLimits
from ._run import BackgroundServer

__all__ = [
    "DEFAULT_LIMITS",
    "TENANT_KEYS",
    "BackgroundServer",
    "ModelConfig",
    "ServeConfig",
    "ServeLimits",
    "ServerSettings",
    "TenantConfig",
    "app",
    "hash_key",
    "load_config",
    "run",
]

_BACKENDS = ("sandbox", "in-process")


def hash_key(key: str) -> str:
    """The ``key_sha256`` to put in ``server.toml`` for an API key.

    Example:
        >>> hash_key("secret")[:16]
        '2bb80d537b1da3e3'
    """
    import hashlib

    if not isinstance(key, str) or not key:
        raise ConfigError("hash_key: the key must be a non-empty string")
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _factory(backend: str) -> Any:
    if backend not in _BACKENDS:
        raise ConfigError(f"backend must be one of {_BACKENDS}. Received: backend={backend!r}")
    if backend == "sandbox":
        from ._sandboxed import SandboxBackend

        return SandboxBackend
    from ._backend import InProcessBackend

    return InProcessBackend


def app(config: str | os.PathLike[str] | Mapping[str, Any] | ServeConfig, *, backend: str = "sandbox") -> Any:
    """The server as an ASGI app (Starlette), for uvicorn, gunicorn, Ray Serve or Kubernetes.

    Every model is loaded (pinned, scanned, ``safe_mode``) before this returns,
    one backend per (tenant, model) pair unless the model is ``shared``.
    ``app.state.server`` holds the live server (backends, metrics).

    Args:
        config: a ``server.toml`` path, its parsed dict, or a :class:`ServeConfig`.
        backend: how models run: ``"sandbox"`` (default: each (tenant, model) pair in its
            own :class:`keras_sanitize.sandbox.Sandbox` of ``workers`` processes), or
            ``"in-process"`` (inside the server process: no isolation; development only).

    Raises:
        ConfigError: on a bad key in the config.
        ArtifactError: when a model fails its pin or scan.
    """
    from ._app import Server

    cfg = load_config(config)
    return Server(cfg, _factory(backend)).app


def run(
    config: str | os.PathLike[str] | Mapping[str, Any] | ServeConfig,
    *,
    insecure_dev: bool = False,
    backend: str = "sandbox",
    log_level: str = "info",
) -> None:
    """Serve ``config`` with uvicorn until interrupted (TLS unless ``insecure_dev`` on loopback)."""
    import uvicorn

    from ._run import access_log_to_stderr, uvicorn_config

    cfg = load_config(config)
    uconfig = uvicorn_config(None, cfg, insecure_dev=insecure_dev, log_level=log_level)
    if cfg.server.access_log:
        access_log_to_stderr()
    uconfig.app = app(cfg, backend=backend)
    uvicorn.Server(uconfig).run()
