"""Helpers for the server tests: model/cert fixtures, a raw HTTP client, config builders."""

from __future__ import annotations

import http.client
import importlib.util
import json
import socket
import ssl
import struct
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
IMAGE_DATA = ROOT / "tests" / "data" / "image"

KEYS = {
    "alice": "alice-key-0123456789",
    "bob": "bob-key-0123456789",
    "flood": "flood-key-0123456789",
    "slow": "slow-key-0123456789",
}


def example_module() -> Any:
    """examples/serve/make_example.py as a module (its cert and model makers)."""
    path = ROOT / "examples" / "serve" / "make_example.py"
    spec = importlib.util.spec_from_file_location("ks_serve_make_example", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_assets(folder: Path) -> dict[str, Any]:
    """Certificate, the example's digits model, a tiny image model and a 'secret' model."""
    import keras

    import keras_sanitize as ks

    ex = example_module()
    cert, key = ex.make_cert(folder)
    digests = {"digits": ex.make_model(folder / "digits.keras")}
    keras.utils.set_random_seed(1)
    images = keras.Sequential(
        [keras.Input((8, 8, 1), name="image"), keras.layers.Flatten(), keras.layers.Dense(3, name="cls")]
    )
    images.save(folder / "images.keras")
    digests["images"] = ks.artifacts.sha256(folder / "images.keras")
    secret = keras.Sequential([keras.Input((2,), name="x"), keras.layers.Dense(1, name="y")])
    secret.save(folder / "secret.keras")
    digests["secret"] = ks.artifacts.sha256(folder / "secret.keras")
    return {"cert": cert, "key": key, "dir": folder, "sha256": digests}


def config(assets: dict[str, Any], *, tls: bool = False, **limits: Any) -> dict[str, Any]:
    """A three-tenant config: alice (digits, images), bob (digits, secret), flood (digits, tight limits)."""
    import keras_sanitize as ks

    d = assets["dir"]
    server: dict[str, Any] = {"host": "127.0.0.1", "port": 0}
    if tls:
        server.update(certfile=str(assets["cert"]), keyfile=str(assets["key"]))
    models = {
        "digits": {"path": str(d / "digits.keras"), "sha256": assets["sha256"]["digits"], "shared": True},
        "images": {"path": str(d / "images.keras"), "sha256": assets["sha256"]["images"], "inputs": "image"},
        "secret": {"path": str(d / "secret.keras"), "sha256": assets["sha256"]["secret"]},
    }
    tenants = {
        "alice": {
            "key_sha256": ks.serve.hash_key(KEYS["alice"]),
            "models": ["digits", "images"],
            "max_body_bytes": 262144,
        },
        "bob": {"key_sha256": ks.serve.hash_key(KEYS["bob"]), "models": ["digits", "secret"], "max_batch": 8},
        "flood": {
            "key_sha256": ks.serve.hash_key(KEYS["flood"]),
            "models": ["digits"],
            "rate": 5.0,
            "burst": 5,
            "max_concurrency": 1,
        },
    }
    # a 1 ms request_timeout: any real model call passes it (504, and crashes for the breaker)
    tenants["slow"] = {
        "key_sha256": ks.serve.hash_key(KEYS["slow"]),
        "models": ["images"],
        "request_timeout": 0.001,
    }
    return {"server": server, "models": models, "tenants": tenants, "limits": dict(limits)}


def auth(tenant: str) -> dict[str, str]:
    """The Authorization header of ``tenant``."""
    return {"Authorization": f"Bearer {KEYS[tenant]}"}


class Raw:
    """A minimal HTTP(S) client (http.client) for requests tritonclient cannot send."""

    def __init__(self, port: int, cafile: Path | None = None, timeout: float = 20.0) -> None:
        self.port, self.cafile, self.timeout = port, cafile, timeout

    def conn(self) -> http.client.HTTPConnection:
        if self.cafile is None:
            return http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        ctx = ssl.create_default_context(cafile=str(self.cafile))
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=self.timeout, context=ctx)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], Any]:
        c = self.conn()
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
        finally:
            c.close()
        doc: Any = data
        if hdrs.get("content-type", "").startswith("application/json"):
            doc = json.loads(data)
        return r.status, hdrs, doc

    def infer(
        self, model: str, doc: Any, tenant: str | None = "alice", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], Any]:
        h = {"Content-Type": "application/json", **(auth(tenant) if tenant else {}), **(headers or {})}
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        return self.request("POST", f"/v2/models/{model}/infer", body, h)


def digits_request(n: int = 2, fill: float = 0.5, rid: str | None = None) -> dict[str, Any]:
    """A JSON infer request for the digits model."""
    doc: dict[str, Any] = {
        "inputs": [{"name": "pixels", "datatype": "FP32", "shape": [n, 64], "data": [fill] * (64 * n)}]
    }
    if rid is not None:
        doc["id"] = rid
    return doc


def raw_socket(port: int, head: bytes, timeout: float = 10.0) -> socket.socket:
    """A plain socket that has sent ``head`` (request line and headers)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(head)
    return s


def read_response(s: socket.socket, deadline: float = 10.0) -> tuple[int, bytes]:
    """Read what the server sent until it closes or a full response arrived; (status, raw bytes)."""
    end = time.monotonic() + deadline
    data = b""
    while time.monotonic() < end:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            break
        except TimeoutError:
            break
        if not chunk:
            break
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            length = [ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length:")]
            if length and len(body) >= int(length[0].split(b":")[1]):
                break
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data


def body_json(raw: bytes) -> Any:
    """The JSON body of a raw HTTP response."""
    return json.loads(raw.partition(b"\r\n\r\n")[2])


def bytes_request(items: list[bytes]) -> tuple[bytes, dict[str, str]]:
    """A KServe v2 binary-extension infer body: one BYTES input named "image" holding ``items``."""
    blob = b"".join(struct.pack("<I", len(b)) + b for b in items)
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": "image",
                    "datatype": "BYTES",
                    "shape": [len(items)],
                    "parameters": {"binary_data_size": len(blob)},
                }
            ]
        }
    ).encode()
    return head + blob, {"Inference-Header-Content-Length": str(len(head))}
