"""``keras-sanitize serve --config server.toml``: the model server's command."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from keras_sanitize.errors import SanitizeError

__all__ = ["add_command"]


def _run(args: argparse.Namespace) -> int:
    try:
        import prometheus_client  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        print(
            f"error: `serve` needs the serve extra ({exc.name} is missing): "
            "pip install 'keras-sanitize[serve]'",
            file=sys.stderr,
        )
        return 2
    from . import app, load_config, run
    from ._run import uvicorn_config

    try:
        cfg = load_config(args.config)
        if args.port is not None:
            from dataclasses import replace

            cfg = replace(cfg, server=replace(cfg.server, port=args.port))
        uvicorn_config(None, cfg, insecure_dev=args.insecure_dev)  # refuses plain HTTP off loopback
        if args.check:
            app(cfg, backend=args.backend)
            pairs = sum(len(t.models) for t in cfg.tenants.values())
            print(
                f"ok: {len(cfg.models)} models, {len(cfg.tenants)} tenants, {pairs} (tenant, model) pairs; "
                f"{'TLS' if cfg.server.certfile else 'plain HTTP (--insecure-dev)'} on "
                f"{cfg.server.host}:{cfg.server.port}"
            )
            return 0
        run(cfg, insecure_dev=args.insecure_dev, backend=args.backend, log_level=args.log_level)
    except SanitizeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def add_command(subparsers: Any) -> None:
    """Add ``serve`` to the ``keras-sanitize`` parser."""
    p = subparsers.add_parser(
        "serve",
        help="run the multi-tenant Open Inference Protocol (KServe v2) model server",
        description="Serve the models of a server.toml over TLS to authenticated tenants "
        "(see docs/serve.md). Exit 2 on a bad config.",
    )
    p.add_argument("--config", required=True, metavar="FILE", help="the server.toml")
    p.add_argument(
        "--insecure-dev",
        action="store_true",
        help="allow plain HTTP when [server] has no certificate (loopback hosts only)",
    )
    p.add_argument("--port", type=int, default=None, help="override [server] port")
    p.add_argument(
        "--backend",
        default="sandbox",
        choices=["sandbox", "in-process"],
        help="how models run: sandbox worker processes (default), or in-process (development only)",
    )
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument("--check", action="store_true", help="load the config and every model, then exit")
    p.set_defaults(func=_run)
