"""Serve an app with uvicorn: TLS by default, plain HTTP only on loopback with ``insecure_dev``."""

from __future__ import annotations

import logging
import ssl
import sys
from typing import Any

from keras_sanitize.errors import ConfigError

from ._config import ServeConfig

__all__ = ["uvicorn_config"]


def uvicorn_config(
    app: Any,
    config: ServeConfig,
    *,
    insecure_dev: bool = False,
    port: int | None = None,
    log_level: str = "info",
) -> Any:
    """A ``uvicorn.Config`` for ``app`` from ``[server]``: TLS files, mutual TLS, connection limits.

    TLS is required unless ``insecure_dev`` is true and the host is a loopback
    address; mutual TLS (``client_ca``) makes uvicorn require a client
    certificate signed by that CA.
    """
    import uvicorn

    s = config.server
    tls = s.certfile is not None
    if not tls and not insecure_dev:
        raise ConfigError(
            "[server] needs certfile and keyfile: the server speaks TLS. For local "
            "development on 127.0.0.1 only, pass --insecure-dev"
        )
    if not tls and not s.loopback:
        raise ConfigError(
            f"--insecure-dev serves plain HTTP on loopback only; [server] host is {s.host!r}. "
            'Set host = "127.0.0.1" or configure certfile/keyfile'
        )
    if s.http == "httptools":
        try:
            import httptools  # noqa: F401
        except ImportError:
            raise ConfigError('[server] http = "httptools" needs the httptools package') from None
    options: dict[str, Any] = {
        "host": s.host,
        "port": s.port if port is None else port,
        "http": s.http,
        "lifespan": "on",
        "access_log": False,
        "server_header": False,
        "date_header": True,
        "log_level": log_level,
        "limit_concurrency": s.max_connections,
        "timeout_keep_alive": 5,
        "h11_max_incomplete_event_size": 16 * 1024,
        "proxy_headers": False,
    }
    if tls:
        options.update(ssl_certfile=s.certfile, ssl_keyfile=s.keyfile)
        if s.client_ca is not None:
            options.update(ssl_ca_certs=s.client_ca, ssl_cert_reqs=ssl.CERT_REQUIRED)
    return uvicorn.Config(app, **options)


def access_log_to_stderr() -> None:
    """Send the one-JSON-line access log to stderr (the CLI does this)."""
    logger = logging.getLogger("keras_sanitize.serve.access")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


class BackgroundServer:
    """Run a server on a free loopback port in a background thread (tests, benchmarks, notebooks).

    A context manager: entering starts uvicorn and waits until it accepts
    connections (bounded by ``start_timeout``); leaving stops it and joins the
    thread. ``.port`` and ``.url`` say where it listens.
    """

    def __init__(
        self, app: Any, config: ServeConfig, *, insecure_dev: bool = False, start_timeout: float = 30.0
    ) -> None:
        import socket

        import uvicorn

        self._uconfig = uvicorn_config(app, config, insecure_dev=insecure_dev, port=0, log_level="warning")
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((config.server.host if config.server.loopback else "127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.scheme = "https" if config.server.certfile else "http"
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(self._uconfig)
        self._timeout = start_timeout
        self._thread: Any = None

    def __enter__(self) -> BackgroundServer:
        import threading
        import time

        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="ks-serve", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + self._timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError("the server did not start (see its log)")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=self._timeout)
        self._sock.close()
