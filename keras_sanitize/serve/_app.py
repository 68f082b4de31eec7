"""The Starlette app: routes of the Open Inference Protocol, admission, refusals, logs, metrics."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread
import numpy as np
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from keras_sanitize.errors import SanitizeError
from keras_sanitize.findings import Action, Finding, Report, Severity, echo

from ._backend import Backend
from ._config import ServeConfig
from ._guards import KeyRing, TenantState
from ._limits import ServeLimits
from ._metrics import CONTENT_TYPE, Metrics
from ._protocol import InferRequest, ProtocolError, encode_response, parse_infer

__all__ = ["Server"]

_access_log = logging.getLogger("keras_sanitize.serve.access")
_log = logging.getLogger("keras_sanitize.serve")
#: Finding-code prefixes that mean "this input brought a model's worker down".
CRASH_CODES = (
    "sandbox.crashed",
    "sandbox.memory_exceeded",
    "sandbox.timeout",
    "serve.timeout",
    "serve.model_error",
)
_MAX_KEY = 512
#: A refused request's body up to this size is read and dropped so its connection can be kept.
_DRAIN_BYTES = 64 * 1024
_DRAIN_SECONDS = 1.0
BackendFactory = Callable[[Any], Backend]


class _Refusal(SanitizeError):
    """A request the server answers with a 4xx/5xx JSON body (caught in the app, never escapes)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        findings: list[Finding] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        self.findings = findings or [
            Finding(code, message, Severity.MEDIUM, Action.REJECT, "serve", fatal=True)
        ]


@dataclass
class _Ctx:
    """What one request did, for the access log and the metrics (never the input itself)."""

    rid: str
    tenant: str = "-"
    model: str = "-"
    codes: list[str] = field(default_factory=list)
    items: int = 0
    bytes_in: int = 0
    body_read: bool = False


def _json(status: int, doc: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(doc, separators=(",", ":")), status, headers, "application/json")


def _error_body(message: str, findings: list[Finding]) -> dict[str, Any]:
    return {"error": message, "findings": [_finding(f) for f in findings]}


def _finding(f: Finding) -> dict[str, Any]:
    out: dict[str, Any] = {"code": f.code, "message": f.message}
    if f.index is not None:
        out["index"] = f.index
    return out


class Server:
    """Holds the backends, tenant states and metrics, and builds the Starlette app."""

    def __init__(self, config: ServeConfig, backend_factory: BackendFactory) -> None:
        self.config = config
        self.keys = KeyRing(config.tenants.values())
        self.states = {name: TenantState(t.limits) for name, t in config.tenants.items()}
        self.backends: dict[tuple[str, str], Backend] = {}
        # one backend per (tenant, model) pair, or one per shared model; started in parallel
        # (a sandbox backend waits for its workers to load the model)
        owners: dict[tuple[str, str], tuple[str, str]] = {}
        for tenant in config.tenants.values():
            for model in tenant.models:
                owners[tenant.name, model] = (
                    ("*", model) if config.models[model].shared else (tenant.name, model)
                )
        for model in sorted({m for _, m in owners.values() if config.models[m].shared}):
            _log.warning(
                "model %r is shared: every tenant that may call it runs in the same worker processes "
                "(one tenant's input can affect another's answers and latency; see docs/serve.md)",
                model,
            )
        unique = sorted(set(owners.values()))
        built: dict[tuple[str, str], Backend] = {}
        with ThreadPoolExecutor(
            max_workers=min(8, len(unique)) or 1, thread_name_prefix="ks-serve-load"
        ) as pool:
            futures = {key: pool.submit(backend_factory, config.models[key[1]]) for key in unique}
            errors = []
            for key, future in futures.items():
                try:
                    built[key] = future.result()
                except BaseException as exc:
                    errors.append(exc)
        self.backends = {pair: built[owner] for pair, owner in owners.items() if owner in built}
        if errors:
            self.close()
            raise errors[0]
        self.metrics = Metrics(self._backend_rows)
        routes = [
            Route("/v2/health/live", self._wrap(self._live), methods=["GET"]),
            Route("/v2/health/ready", self._wrap(self._ready), methods=["GET"]),
            Route("/v2", self._wrap(self._server_meta), methods=["GET"]),
            Route("/v2/repository/index", self._wrap(self._index), methods=["POST"]),
            Route("/v2/models/{name}", self._wrap(self._model_meta), methods=["GET"]),
            Route("/v2/models/{name}/ready", self._wrap(self._model_ready), methods=["GET"]),
            Route("/v2/models/{name}/infer", self._wrap(self._infer), methods=["POST"]),
            Route("/metrics", self._wrap(self._metrics), methods=["GET"]),
            Route(
                "/{rest:path}",
                self._wrap(self._not_found),
                methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"],
            ),
        ]
        self.app = Starlette(routes=routes, lifespan=self._lifespan)
        self.app.state.server = self

    # -- plumbing -------------------------------------------------------------------
    def _backend_rows(self) -> Iterator[tuple[str, str, Any]]:
        for (tenant, model), backend in self.backends.items():
            yield tenant, model, backend

    def close(self) -> None:
        """Close every backend (idempotent)."""
        for backend in {id(b): b for b in self.backends.values()}.values():
            with contextlib.suppress(Exception):
                backend.close()

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            self.close()

    def _wrap(
        self, handler: Callable[[Request, _Ctx], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            start = time.perf_counter()
            rid = request.headers.get("x-request-id", "")[:64] or uuid.uuid4().hex[:16]
            ctx = _Ctx(rid)
            try:
                response = await handler(request, ctx)
            except _Refusal as exc:
                ctx.codes.extend(f.code for f in exc.findings)
                response = _json(exc.status, _error_body(str(exc), exc.findings), exc.headers)
            except ClientDisconnect:
                ctx.codes.append("serve.client_disconnected")
                response = Response(status_code=499)
            except Exception as exc:  # a bug of ours: answer, log the type, never the input
                _log.exception("internal error on %s", request.url.path[:120])
                ctx.codes.append("serve.internal_error")
                msg = f"internal server error ({type(exc).__name__}); the request id is {rid}"
                response = _json(500, _error_body(msg, [Finding("serve.internal_error", msg, Severity.HIGH)]))
            response.headers["x-request-id"] = rid
            if request.method == "POST" and not ctx.body_read and not await self._drain(request):
                # refused before its body was read, and the body is too big or too slow to skip:
                # close, so that no unread byte can be taken for the next request
                response.headers["connection"] = "close"
            self._record(request, ctx, response, time.perf_counter() - start)
            return response

        return endpoint

    async def _drain(self, request: Request) -> bool:
        """Read and drop a refused request's small body (keeps the connection); False: close it."""
        declared = request.headers.get("content-length")
        if declared is None or not declared.isdigit() or int(declared) > _DRAIN_BYTES:
            return False
        if request.headers.get("content-encoding", "identity").strip().lower() not in ("", "identity"):
            return False
        seen = 0
        with anyio.move_on_after(_DRAIN_SECONDS):
            try:
                async for chunk in request.stream():
                    seen += len(chunk)
                    if seen > int(declared):
                        return False
            except (ClientDisconnect, RuntimeError):
                return False
            return seen == int(declared)
        return False

    def _record(self, request: Request, ctx: _Ctx, response: Response, seconds: float) -> None:
        status = response.status_code
        if ctx.model != "-" or ctx.tenant != "-":
            m = self.metrics
            m.requests.labels(ctx.tenant, ctx.model, str(status)).inc()
            m.latency.labels(ctx.tenant, ctx.model).observe(seconds)
            for code in ctx.codes:
                m.refusals.labels(ctx.tenant, ctx.model, code).inc()
            if status >= 500:
                m.errors.labels(ctx.tenant, ctx.model).inc()
        if self.config.server.access_log and _access_log.isEnabledFor(logging.INFO):
            client = request.client
            _access_log.info(
                json.dumps(
                    {
                        "ts": round(time.time(), 3),
                        "id": ctx.rid,
                        "client": client.host if client else None,
                        "method": request.method,
                        "path": echo(request.url.path, 120),
                        "tenant": ctx.tenant,
                        "model": ctx.model,
                        "status": status,
                        "codes": sorted(set(ctx.codes)),
                        "items": ctx.items,
                        "bytes_in": ctx.bytes_in,
                        "bytes_out": len(response.body or b""),
                        "ms": round(seconds * 1e3, 3),
                    },
                    separators=(",", ":"),
                )
            )

    # -- admission --------------------------------------------------------------------
    def _tenant(self, request: Request, ctx: _Ctx) -> str:
        header = request.headers.get("authorization")
        key = None
        if header is not None:
            scheme, _, value = header.partition(" ")
            if scheme.lower() == "bearer" and 0 < len(value.strip()) <= _MAX_KEY:
                key = value.strip()
        name = self.keys.lookup(key)
        if name is None:
            what = "no API key" if header is None else "an unknown or malformed API key"
            raise _Refusal(
                401,
                "serve.unauthorized",
                f"{what}: send 'Authorization: Bearer <key>' with a key issued to your tenant",
                {"WWW-Authenticate": 'Bearer realm="keras_sanitize"'},
            )
        ctx.tenant = name
        return name

    def _model(self, tenant: str, name: str, ctx: _Ctx) -> tuple[str, Backend]:
        if name not in self.config.models:  # a dict lookup: no path is ever built from the URL
            raise _Refusal(404, "serve.unknown_model", f"no model named {echo(name, 64)} is configured")
        backend = self.backends.get((tenant, name))
        if backend is None:
            raise _Refusal(
                403,
                "serve.forbidden",
                f"tenant {tenant!r} may not use model {name!r}; ask the "
                f"operator to add it to [tenants.{tenant}] models",
            )
        ctx.model = name
        return name, backend

    async def _read_body(self, request: Request, limits: ServeLimits, ctx: _Ctx) -> bytes:
        cap = limits.max_body_bytes
        close = {"Connection": "close"}
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise _Refusal(
                415,
                "serve.unsupported_encoding",
                f"Content-Encoding {echo(encoding, 32)} is not "
                "accepted (compressed bodies could be decompression bombs); send it uncompressed",
                close,
            )
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise _Refusal(
                    400, "serve.bad_request", f"Content-Length {echo(declared, 32)} is not a number", close
                )
            if int(declared) > cap:
                raise _Refusal(
                    413,
                    "serve.too_many_bytes",
                    f"the body declares {int(declared)} bytes; limit "
                    f"is {cap} (max_body_bytes). Send fewer items per request",
                    close,
                )
        buf = bytearray()
        try:
            with anyio.fail_after(limits.body_timeout):
                async for chunk in request.stream():
                    if len(buf) + len(chunk) > cap:
                        ctx.bytes_in = len(buf) + len(chunk)
                        raise _Refusal(
                            413,
                            "serve.too_many_bytes",
                            f"the body passed {cap} bytes "
                            f"(max_body_bytes) while being read; it was cut there",
                            close,
                        )
                    buf += chunk
        except TimeoutError:
            ctx.bytes_in = len(buf)
            raise _Refusal(
                408,
                "serve.body_timeout",
                f"the body did not arrive within {limits.body_timeout:g} s "
                f"(body_timeout; {len(buf)} bytes received)",
                close,
            ) from None
        ctx.bytes_in = len(buf)
        ctx.body_read = True
        return bytes(buf)

    # -- routes -------------------------------------------------------------------------
    async def _live(self, request: Request, ctx: _Ctx) -> Response:
        return _json(200, {"live": True})

    async def _ready(self, request: Request, ctx: _Ctx) -> Response:
        ready = all(b.ready() for b in self.backends.values())
        return _json(200 if ready else 503, {"ready": ready})

    async def _server_meta(self, request: Request, ctx: _Ctx) -> Response:
        from keras_sanitize import __version__

        return _json(
            200,
            {
                "name": "keras_sanitize",
                "version": __version__,
                "extensions": ["binary_tensor_data", "model_repository"],
            },
        )

    async def _index(self, request: Request, ctx: _Ctx) -> Response:
        tenant = self._tenant(request, ctx)
        rows = [
            {
                "name": m,
                "version": "1",
                "state": "READY" if self.backends[tenant, m].ready() else "UNAVAILABLE",
            }
            for m in self.config.tenants[tenant].models
        ]
        return Response(json.dumps(rows), 200, media_type="application/json")

    async def _model_meta(self, request: Request, ctx: _Ctx) -> Response:
        tenant = self._tenant(request, ctx)
        name, backend = self._model(tenant, request.path_params["name"], ctx)
        return _json(
            200,
            {
                "name": name,
                "versions": ["1"],
                "platform": "keras",
                "inputs": [t.to_dict() for t in backend.inputs],
                "outputs": [t.to_dict() for t in backend.outputs],
                "parameters": {"modality": backend.modality, "isolation": backend.kind},
            },
        )

    async def _model_ready(self, request: Request, ctx: _Ctx) -> Response:
        tenant = self._tenant(request, ctx)
        name, backend = self._model(tenant, request.path_params["name"], ctx)
        ready = backend.ready()
        return _json(200 if ready else 503, {"name": name, "ready": ready})

    async def _metrics(self, request: Request, ctx: _Ctx) -> Response:
        server = self.config.server
        if not server.metrics:
            raise _Refusal(404, "serve.not_found", "metrics are turned off ([server] metrics = false)")
        if server.metrics_key_sha256 is not None:
            header = request.headers.get("authorization", "")
            key = header.partition(" ")[2].strip()[:_MAX_KEY]
            digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
            if not hmac.compare_digest(digest, server.metrics_key_sha256):
                raise _Refusal(
                    401,
                    "serve.unauthorized",
                    "metrics need 'Authorization: Bearer <metrics key>'",
                    {"WWW-Authenticate": 'Bearer realm="metrics"'},
                )
        return Response(self.metrics.render(), 200, media_type=CONTENT_TYPE)

    async def _not_found(self, request: Request, ctx: _Ctx) -> Response:
        raise _Refusal(
            404,
            "serve.not_found",
            f"no route {request.method} {echo(request.url.path, 120)}; "
            "see /v2/models/{name}/infer and the Open Inference Protocol",
        )

    async def _infer(self, request: Request, ctx: _Ctx) -> Response:
        tenant = self._tenant(request, ctx)
        name, backend = self._model(tenant, request.path_params["name"], ctx)
        state = self.states[tenant]
        limits = state.limits
        cooldown = state.breaker.remaining()
        if cooldown > 0:
            raise _Refusal(
                429,
                "serve.circuit_open",
                f"tenant {tenant!r} is cooling down for "
                f"{cooldown:.0f} s: its inputs crashed or timed out model workers more than "
                f"{limits.breaker_crashes} times in {limits.breaker_window:g} s (circuit breaker)",
                {"Retry-After": str(max(1, math.ceil(cooldown)))},
            )
        wait = state.bucket.take()
        if wait > 0:
            raise _Refusal(
                429,
                "serve.rate_limited",
                f"tenant {tenant!r} is over its rate of {limits.rate:g} "
                f"requests/s (burst {limits.burst}); retry after {wait:.2f} s",
                {"Retry-After": str(max(1, math.ceil(wait)))},
            )
        if state.in_flight >= limits.max_concurrency:
            raise _Refusal(
                429,
                "serve.too_many_concurrent",
                f"tenant {tenant!r} already has "
                f"{state.in_flight} requests in flight; limit is {limits.max_concurrency} "
                f"(max_concurrency)",
                {"Retry-After": "1"},
            )
        if not backend.ready():
            raise _Refusal(
                503,
                "serve.not_ready",
                f"model {name!r} is not ready (its workers are restarting); retry shortly",
                {"Retry-After": "1"},
            )
        state.in_flight += 1
        gauge = self.metrics.in_flight.labels(tenant, name)
        gauge.inc()
        try:
            return await self._infer_admitted(request, ctx, tenant, name, backend, state)
        finally:
            state.in_flight -= 1
            gauge.dec()

    async def _infer_admitted(
        self, request: Request, ctx: _Ctx, tenant: str, name: str, backend: Backend, state: TenantState
    ) -> Response:
        limits = state.limits
        body = await self._read_body(request, limits, ctx)
        try:
            req = parse_infer(body, request.headers.get("inference-header-content-length"), limits)
        except ProtocolError as exc:
            raise _Refusal(exc.status, exc.finding.code, str(exc), findings=[exc.finding]) from None
        x = self._model_input(req, backend, limits)
        ctx.items = req.batch
        try:
            with anyio.fail_after(limits.request_timeout):
                outputs, reports = await anyio.to_thread.run_sync(backend.infer, x, abandon_on_cancel=True)
        except TimeoutError:
            self._crashed(state, tenant, name, 1)
            raise _Refusal(
                504,
                "serve.timeout",
                f"the model did not answer within {limits.request_timeout:g} s (request_timeout)",
            ) from None
        except SanitizeError as exc:
            report = getattr(exc, "report", None)
            found = list(report.rejections) if isinstance(report, Report) else []
            raise _Refusal(
                422, found[0].code if found else "serve.refused", str(exc), findings=found
            ) from None
        except Exception as exc:
            self._crashed(state, tenant, name, 1)
            raise _Refusal(
                500,
                "serve.model_error",
                f"the model failed on this input ({type(exc).__name__}); the server is still serving",
            ) from None
        refused: list[Finding] = []
        for i, report in enumerate(reports):
            if not report.ok:
                refused.extend(f.with_(index=i) for f in report.rejections[:4])
        crashes = sum(1 for r in reports if any(f.code.startswith(CRASH_CODES) for f in r.rejections))
        if crashes:
            self._crashed(state, tenant, name, crashes)
        n_refused = sum(1 for r in reports if not r.ok)
        if reports and n_refused == len(reports):
            raise _Refusal(
                422,
                refused[0].code,
                f"all {len(reports)} items were refused; see findings (index = item)",
                findings=refused,
            )
        ctx.codes.extend(f.code for f in refused)
        self.metrics.items.labels(tenant, name).inc(len(reports) - n_refused)
        extra: dict[str, Any] = {}
        if refused:
            extra = {"parameters": {"refused_items": n_refused}, "findings": [_finding(f) for f in refused]}
        payload, header_len = encode_response(name, req, outputs, extra)
        headers = {} if header_len is None else {"Inference-Header-Content-Length": str(header_len)}
        media = "application/json" if header_len is None else "application/octet-stream"
        return Response(payload, 200, headers, media)

    def _crashed(self, state: TenantState, tenant: str, model: str, n: int) -> None:
        self.metrics.crashes.labels(tenant, model).inc(n)
        if state.breaker.record(n):
            _log.warning("tenant %r: circuit breaker open for %.0f s", tenant, state.breaker.remaining())

    def _model_input(self, req: InferRequest, backend: Backend, limits: ServeLimits) -> Any:
        spec = backend.inputs[0]
        if len(req.inputs) != 1 or req.inputs[0].name != spec.name:
            got = [t.name for t in req.inputs]
            raise _Refusal(
                400,
                "serve.unknown_input",
                f"the model takes one input named {spec.name!r}; "
                f"received {echo(got)}. Ask GET /v2/models/{{name}} for its inputs",
            )
        tensor = req.inputs[0]
        want_bytes = spec.datatype == "BYTES"
        if (tensor.datatype == "BYTES") != want_bytes:
            raise _Refusal(
                400,
                "serve.datatype",
                f"input {spec.name!r} takes {spec.datatype} "
                f"({'raw items' if want_bytes else 'numbers'}); received {tensor.datatype}",
            )
        batch = req.batch
        if batch > limits.max_batch:
            raise _Refusal(
                400,
                "serve.batch_too_large",
                f"the request holds {batch} items; limit is "
                f"{limits.max_batch} (max_batch). Split it into smaller requests",
            )
        if want_bytes:
            if len(tensor.shape) > 2 or (len(tensor.shape) == 2 and tensor.shape[1] != 1):
                raise _Refusal(
                    400,
                    "serve.shape",
                    f"input {spec.name!r} takes a [batch] or [batch, 1] BYTES "
                    f"tensor; received shape {list(tensor.shape)}",
                )
            return list(tensor.data)
        data: np.ndarray = tensor.data
        return data
