"""``server.toml``: server, model and tenant settings, checked at load time (ConfigError)."""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import echo

from ._limits import DEFAULT_LIMITS, TENANT_KEYS, ServeLimits

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["ModelConfig", "ServeConfig", "ServerSettings", "TenantConfig", "load_config"]

#: Model and tenant names: what may appear in a URL and a metric label.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
MODALITIES = ("tensor", "text", "image", "audio")
_MAX_CONFIG_BYTES = 1 << 20


@dataclass(frozen=True)
class ServerSettings:
    """The ``[server]`` table: where to listen and how (TLS is the default)."""

    host: str = "127.0.0.1"
    port: int = 8443
    certfile: str | None = None
    keyfile: str | None = None
    client_ca: str | None = None
    metrics: bool = True
    metrics_key_sha256: str | None = None
    access_log: bool = True
    max_connections: int = 256
    http: str = "h11"

    @property
    def loopback(self) -> bool:
        """Whether ``host`` only listens on the loopback interface."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


@dataclass(frozen=True)
class ModelConfig:
    """One ``[models.NAME]`` table.

    ``inputs`` is a modality (``tensor``, ``text``, ``image``, ``audio``) or the
    path of a policy file; ``shared = true`` lets every tenant use one set of
    workers (cheaper, but tenants then share a process: see docs/serve.md).
    """

    name: str
    path: str
    sha256: str
    inputs: str = "tensor"
    workers: int = 1
    shared: bool = False
    memory_mb: int = 1024
    cpu_seconds: int = 10
    timeout: float = 10.0
    sample_rate: int = 16000

    @property
    def policy_file(self) -> str | None:
        """The policy file path when ``inputs`` is not a modality name."""
        return None if self.inputs in MODALITIES else self.inputs


@dataclass(frozen=True)
class TenantConfig:
    """One ``[tenants.NAME]`` table: the key's hash, the models it may call, its limits."""

    name: str
    key_sha256: str
    models: tuple[str, ...]
    limits: ServeLimits = DEFAULT_LIMITS


@dataclass(frozen=True)
class ServeConfig:
    """The whole server configuration (build it with :func:`load_config`)."""

    server: ServerSettings = field(default_factory=ServerSettings)
    models: Mapping[str, ModelConfig] = field(default_factory=dict)
    tenants: Mapping[str, TenantConfig] = field(default_factory=dict)
    limits: ServeLimits = DEFAULT_LIMITS


def _type_error(where: str, key: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"{where}.{key} must be {expected}. Received: {key}={echo(value)}")


def _take(
    table: dict[str, Any], where: str, key: str, kind: type | tuple[type, ...], default: Any, expected: str
) -> Any:
    value = table.pop(key, default)
    if value is default:
        return value
    if isinstance(value, bool) and kind is not bool:
        raise _type_error(where, key, expected, value)
    if not isinstance(value, kind):
        raise _type_error(where, key, expected, value)
    return value


def _path(value: str | None, base: Path) -> str | None:
    if value is None:
        return None
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else base / p)


def _name(kind: str, name: Any) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ConfigError(
            f"{kind} names must match {NAME_RE.pattern} (letters, digits, '_', '.', '-'; no '/'). "
            f"Received: {echo(name)}"
        )
    return name


def _digest(where: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not _HEX64.match(value.lower()):
        raise _type_error(where, key, "64 hex digits (a SHA-256)", value)
    return value.lower()


def _no_extra(table: dict[str, Any], where: str) -> None:
    if table:
        raise ConfigError(f"{where}: unknown keys {sorted(table)}")


def _server(raw: Any, base: Path) -> ServerSettings:
    if not isinstance(raw, dict):
        raise ConfigError(f"[server] must be a table. Received: {type(raw).__name__}")
    t = dict(raw)
    w = "server"
    host = _take(t, w, "host", str, "127.0.0.1", "a host name or IP address")
    port = _take(t, w, "port", int, 8443, "an integer port")
    if not 0 <= port <= 65535:
        raise _type_error(w, "port", "in [0, 65535]", port)
    cert = _take(t, w, "certfile", str, None, "a file path")
    key = _take(t, w, "keyfile", str, None, "a file path")
    ca = _take(t, w, "client_ca", str, None, "a file path")
    metrics = _take(t, w, "metrics", bool, True, "true or false")
    mkey = _take(t, w, "metrics_key_sha256", str, None, "64 hex digits")
    access = _take(t, w, "access_log", bool, True, "true or false")
    conns = _take(t, w, "max_connections", int, 256, "an integer >= 1")
    if conns < 1:
        raise _type_error(w, "max_connections", "an integer >= 1", conns)
    http = _take(t, w, "http", str, "h11", '"h11" or "httptools"')
    if http not in ("h11", "httptools"):
        raise _type_error(w, "http", '"h11" or "httptools"', http)
    _no_extra(t, "[server]")
    if (cert is None) != (key is None):
        raise ConfigError("[server] certfile and keyfile go together: set both for TLS, or neither")
    if ca is not None and cert is None:
        raise ConfigError("[server] client_ca (mutual TLS) needs certfile and keyfile")
    return ServerSettings(
        host=host,
        port=port,
        certfile=_path(cert, base),
        keyfile=_path(key, base),
        client_ca=_path(ca, base),
        metrics=metrics,
        metrics_key_sha256=None if mkey is None else _digest(w, "metrics_key_sha256", mkey),
        access_log=access,
        max_connections=conns,
        http=http,
    )


def _model(name: str, raw: Any, base: Path) -> ModelConfig:
    w = f"models.{name}"
    if not isinstance(raw, dict):
        raise ConfigError(f"[{w}] must be a table. Received: {type(raw).__name__}")
    t = dict(raw)
    path = _take(t, w, "path", str, None, "a .keras file path")
    if path is None:
        raise ConfigError(f'[{w}] needs path = "model.keras"')
    digest = t.pop("sha256", None)
    if digest is None:
        raise ConfigError(
            f'[{w}] needs sha256 = "...": the server loads pinned models only '
            f"(get it with `python -c \"import keras_sanitize as ks; print(ks.artifacts.sha256('{path}'))\"`)"
        )
    inputs = _take(t, w, "inputs", str, "tensor", "a modality or a policy file path")
    ints = {}
    for key, default in (("workers", 1), ("memory_mb", 1024), ("cpu_seconds", 10), ("sample_rate", 16000)):
        value = _take(t, w, key, int, default, "an integer >= 1")
        if value < 1:
            raise _type_error(w, key, "an integer >= 1", value)
        ints[key] = value
    shared = _take(t, w, "shared", bool, False, "true or false")
    timeout = _take(t, w, "timeout", (int, float), 10.0, "a number of seconds > 0")
    if not 0 < timeout < float("inf"):
        raise _type_error(w, "timeout", "a number of seconds > 0", timeout)
    _no_extra(t, f"[{w}]")
    if inputs not in MODALITIES:
        inputs = str(_path(inputs, base))
        if not os.path.isfile(inputs):
            raise ConfigError(
                f"[{w}] inputs must be one of {MODALITIES} or an existing policy file. "
                f"Received: {echo(inputs)}"
            )
    return ModelConfig(
        name=name,
        path=str(_path(path, base)),
        sha256=_digest(w, "sha256", digest),
        inputs=inputs,
        shared=shared,
        **ints,
    )


def _tenant(name: str, raw: Any, models: Mapping[str, ModelConfig], limits: ServeLimits) -> TenantConfig:
    w = f"tenants.{name}"
    if not isinstance(raw, dict):
        raise ConfigError(f"[{w}] must be a table. Received: {type(raw).__name__}")
    t = dict(raw)
    if "key" in t or "api_key" in t:
        raise ConfigError(f"[{w}] must not hold the key itself: store key_sha256 = sha256(key) instead")
    digest = _digest(w, "key_sha256", t.pop("key_sha256", None))
    names = t.pop("models", None)
    if not isinstance(names, list) or not all(isinstance(m, str) for m in names):
        raise _type_error(w, "models", "a list of model names", names)
    unknown = [m for m in names if m not in models]
    if unknown:
        raise ConfigError(f"[{w}] models {unknown} are not configured; known: {sorted(models)}")
    overrides = {k: t.pop(k) for k in list(t) if k in TENANT_KEYS}
    _no_extra(t, f"[{w}]")
    own = ServeLimits.from_table(overrides, f"[{w}]", base=limits, allowed=TENANT_KEYS)
    return TenantConfig(name=name, key_sha256=digest, models=tuple(dict.fromkeys(names)), limits=own)


def config_from_dict(data: Mapping[str, Any], base_dir: str | os.PathLike[str] = ".") -> ServeConfig:
    """Check and build a :class:`ServeConfig` from parsed TOML; relative paths resolve from ``base_dir``."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"a server config must be a table. Received: {type(data).__name__}")
    base = Path(base_dir)
    unknown = sorted(set(data) - {"server", "models", "tenants", "limits"})
    if unknown:
        raise ConfigError(f"unknown top-level tables {unknown}; known: server, models, tenants, limits")
    server = _server(data.get("server", {}), base)
    limits = ServeLimits.from_table(data.get("limits", {}), "[limits]")
    raw_models = data.get("models", {})
    raw_tenants = data.get("tenants", {})
    if not isinstance(raw_models, Mapping) or not raw_models:
        raise ConfigError("a server config needs at least one [models.NAME] table")
    if not isinstance(raw_tenants, Mapping) or not raw_tenants:
        raise ConfigError("a server config needs at least one [tenants.NAME] table")
    models = {_name("model", n): _model(n, m, base) for n, m in raw_models.items()}
    tenants = {_name("tenant", n): _tenant(n, t, models, limits) for n, t in raw_tenants.items()}
    hashes = [t.key_sha256 for t in tenants.values()]
    if len(set(hashes)) != len(hashes):
        raise ConfigError("two tenants share one key_sha256; give every tenant its own key")
    return ServeConfig(server=server, models=models, tenants=tenants, limits=limits)


def load_config(source: str | os.PathLike[str] | Mapping[str, Any] | ServeConfig) -> ServeConfig:
    """Read ``server.toml`` (or take a dict / a ready :class:`ServeConfig`) and check every key.

    Example:
        >>> cfg = load_config({
        ...     "models": {"m": {"path": "m.keras", "sha256": "0" * 64}},
        ...     "tenants": {"alice": {"key_sha256": "1" * 64, "models": ["m"], "rate": 5.0}},
        ... })
        >>> cfg.tenants["alice"].limits.rate, cfg.tenants["alice"].limits.burst
        (5.0, 40)
    """
    if isinstance(source, ServeConfig):
        return source
    if isinstance(source, Mapping):
        return config_from_dict(source)
    try:
        path = Path(os.fspath(source))
    except TypeError:
        raise ConfigError(
            f"config must be a path, a dict or a ServeConfig. Received: {echo(source)}"
        ) from None
    try:
        raw = path.read_bytes()[: _MAX_CONFIG_BYTES + 1]
    except OSError as exc:
        raise ConfigError(f"cannot read the server config {echo(str(path))}: {exc.strerror or exc}") from None
    if len(raw) > _MAX_CONFIG_BYTES:
        raise ConfigError(f"server config {echo(str(path))} is larger than {_MAX_CONFIG_BYTES} bytes")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"server config {echo(str(path))} is not valid TOML: {exc}") from None
    return config_from_dict(data, path.resolve().parent)
