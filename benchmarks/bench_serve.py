"""The model server on loopback: requests/s over HTTP and HTTPS, overhead per request over the
sandboxed model called directly, and a three-tenant load test with an abusive tenant.

Everything runs against 127.0.0.1 only, bounded in count and time (about a minute and a half
here, most of it starting the sandbox workers). Models run on the default sandbox backend;
the tiny model (64 -> 16 -> 10) is ``shared`` by the three tenants to keep start-up short
(the crash-inducing model is separate). The abuser floods at 10x its rate, sends oversize
bodies and inputs that crash a sandbox worker; the well-behaved tenants' p99 latency is
compared with a run without the abuser, and every request must get exactly one answer
carrying its own id.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np
from _harness import Row

import keras_sanitize as ks

ROOT = Path(__file__).resolve().parents[1]
GROUP = "serve"
KEYS = {"good1": "good1-key-000000", "good2": "good2-key-000000", "abuser": "abuser-key-000000"}
ABUSER_RATE = 10.0


def _assets(folder: Path) -> dict[str, Any]:
    import importlib.util

    import keras

    sys.path.insert(0, str(ROOT / "tests"))
    import _sandbox_faults as faults  # a stage that segfaults on inputs starting with KILL

    spec = importlib.util.spec_from_file_location(
        "make_example", ROOT / "examples" / "serve" / "make_example.py"
    )
    assert spec and spec.loader
    ex = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ex)
    cert, key = ex.make_cert(folder)
    digits = ex.make_model(folder / "digits.keras")
    keras.utils.set_random_seed(1)
    images = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    images.save(folder / "images.keras")
    pipe = ks.Pipeline(
        [faults.Segfault(prefix="KILL"), ks.image.default(size=(8, 8), mode="L")], modality="image"
    )
    (folder / "crashy.json").write_text(json.dumps(ks.serialize_stage(pipe)))
    return {
        "server": {"host": "127.0.0.1", "port": 0, "certfile": str(cert), "keyfile": str(key)},
        "limits": {"breaker_crashes": 3, "breaker_window": 60.0, "breaker_cooldown": 60.0},
        "models": {
            "digits": {"path": str(folder / "digits.keras"), "sha256": digits, "shared": True, "workers": 2},
            "crashy": {
                "path": str(folder / "images.keras"),
                "sha256": ks.artifacts.sha256(folder / "images.keras"),
                "inputs": str(folder / "crashy.json"),
            },
        },
        "tenants": {
            "good1": {
                "key_sha256": ks.serve.hash_key(KEYS["good1"]),
                "models": ["digits"],
                "rate": 1000.0,
                "burst": 1000,
                "max_concurrency": 8,
            },
            "good2": {
                "key_sha256": ks.serve.hash_key(KEYS["good2"]),
                "models": ["digits"],
                "rate": 1000.0,
                "burst": 1000,
                "max_concurrency": 8,
            },
            "abuser": {
                "key_sha256": ks.serve.hash_key(KEYS["abuser"]),
                "models": ["digits", "crashy"],
                "rate": ABUSER_RATE,
                "burst": 10,
                "max_concurrency": 4,
                "max_body_bytes": 65536,
            },
        },
    }


class _Conn:
    """One keep-alive connection (plain or TLS) that reconnects when the server closes it."""

    def __init__(self, port: int, cafile: str | None) -> None:
        self.port, self.cafile = port, cafile
        self.c: http.client.HTTPConnection | None = None

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        for attempt in range(2):
            if self.c is None:
                if self.cafile:
                    ctx = ssl.create_default_context(cafile=self.cafile)
                    self.c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30, context=ctx)
                else:
                    self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.c.request("POST", path, body, headers)
                r = self.c.getresponse()
                data = r.read()
                hdrs = {k.lower(): v for k, v in r.getheaders()}
                if hdrs.get("connection", "").lower() == "close":
                    self.close()
                return r.status, hdrs, data
            except (ConnectionError, http.client.HTTPException, OSError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.c is not None:
            self.c.close()
            self.c = None


def _digits(rid: str) -> bytes:
    return json.dumps(
        {"id": rid, "inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 64], "data": [0.5] * 64}]}
    ).encode()


def _headers(tenant: str, rid: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {KEYS[tenant]}",
        "Content-Type": "application/json",
        "x-request-id": rid,
    }


def _throughput(port: int, cafile: str | None, seconds: float = 3.0, threads: int = 4) -> float:
    done = [0] * threads
    stop = time.monotonic() + seconds

    def worker(k: int) -> None:
        conn = _Conn(port, cafile)
        i = 0
        while time.monotonic() < stop:
            rid = f"t{k}-{i}"
            status, _, _ = conn.post("/v2/models/digits/infer", _digits(rid), _headers("good1", rid))
            assert status == 200
            done[k] += 1
            i += 1
        conn.close()

    start = time.monotonic()
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    return sum(done) / (time.monotonic() - start)


def _overhead(port: int, backend: Any, rounds: int = 300) -> tuple[float, float]:
    conn = _Conn(port, None)
    x = np.full((1, 64), 0.5, np.float32)
    http_t, direct_t = [], []
    for i in range(rounds + 20):
        for first in (True, False) if i % 2 else (False, True):
            start = time.perf_counter()
            if first:
                status, _, _ = conn.post(
                    "/v2/models/digits/infer", _digits(f"o{i}"), _headers("good1", f"o{i}")
                )
                assert status == 200
            else:
                backend.infer(x)
            took = time.perf_counter() - start
            if i >= 20:
                (http_t if first else direct_t).append(took)
    conn.close()
    return statistics.median(http_t), statistics.median(direct_t)


def _load(port: int, cafile: str, with_abuser: bool, seconds: float = 6.0) -> dict[str, Any]:
    """Good tenants at 15 req/s each (paced); the abuser, if any, at 10x its rate plus bad inputs."""
    sent: dict[str, str] = {}
    answers: dict[str, list[tuple[int, str | None]]] = {}
    latency: list[float] = []
    abuser_status: dict[int, int] = {}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def record(rid: str, tenant: str, status: int, hdrs: dict[str, str], data: bytes) -> None:
        got = hdrs.get("x-request-id")
        if status == 200:
            got = json.loads(data).get("id")
        with lock:
            answers.setdefault(rid, []).append((status, got))
            if tenant == "abuser":
                abuser_status[status] = abuser_status.get(status, 0) + 1

    def good(tenant: str) -> None:
        conn = _Conn(port, cafile)
        i, t0 = 0, time.monotonic()
        while time.monotonic() < stop:
            rid = f"{tenant}-{i}"
            with lock:
                sent[rid] = tenant
            start = time.perf_counter()
            status, hdrs, data = conn.post("/v2/models/digits/infer", _digits(rid), _headers(tenant, rid))
            with lock:
                latency.append(time.perf_counter() - start)
            record(rid, tenant, status, hdrs, data)
            i += 1
            time.sleep(max(0.0, t0 + i / 15.0 - time.monotonic()))
        conn.close()

    def abuse(kind: str) -> None:
        conn = _Conn(port, cafile)
        i, t0 = 0, time.monotonic()
        per_second = {"flood": ABUSER_RATE * 10, "oversize": 5.0, "crash": 2.0}[kind]
        png = (ROOT / "tests" / "data" / "image" / "gradient.png").read_bytes()
        while time.monotonic() < stop:
            rid = f"abuser-{kind}-{i}"
            with lock:
                sent[rid] = "abuser"
            if kind == "flood":
                path, body = "/v2/models/digits/infer", _digits(rid)
            elif kind == "oversize":
                path, body = "/v2/models/digits/infer", b"[" * (256 * 1024)
            else:
                item = b"KILL" + png
                blob = len(item).to_bytes(4, "little") + item
                head = json.dumps(
                    {
                        "id": rid,
                        "inputs": [
                            {
                                "name": "image",
                                "datatype": "BYTES",
                                "shape": [1],
                                "parameters": {"binary_data_size": len(blob)},
                            }
                        ],
                    }
                ).encode()
                path, body = "/v2/models/crashy/infer", head + blob
            headers = _headers("abuser", rid)
            if kind == "crash":
                headers["Inference-Header-Content-Length"] = str(len(head))
            try:
                status, hdrs, data = conn.post(path, body, headers)
            except (ConnectionError, OSError, http.client.HTTPException):
                status, hdrs, data = 0, {}, b""  # the server cut an oversize body: no answer to read
                conn.close()
            if status:
                record(rid, "abuser", status, hdrs, data)
            elif kind == "oversize":
                with lock:
                    answers.setdefault(rid, []).append((413, rid))  # cut at the cap, counted as refused
                    abuser_status[-413] = abuser_status.get(-413, 0) + 1
            i += 1
            time.sleep(max(0.0, t0 + i / per_second - time.monotonic()))
        conn.close()

    threads = [threading.Thread(target=good, args=(t,)) for t in ("good1", "good2")]
    if with_abuser:
        threads += [threading.Thread(target=abuse, args=(k,)) for k in ("flood", "oversize", "crash")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    lost = [rid for rid in sent if rid not in answers]
    doubled = [rid for rid, a in answers.items() if len(a) != 1]
    wrong = [rid for rid, a in answers.items() if a and a[0][1] != rid]
    good_codes = {s for rid, a in answers.items() if sent.get(rid) != "abuser" for s, _ in a}
    latency.sort()
    return {
        "p99": latency[max(0, int(len(latency) * 0.99) - 1)],
        "n_good": len(latency),
        "lost": len(lost),
        "doubled": len(doubled),
        "wrong": len(wrong),
        "good_codes": sorted(good_codes),
        "abuser": dict(sorted(abuser_status.items())),
        "sent": len(sent),
    }


def run() -> list[Row]:
    """Start the server (TLS and plain listeners on one app), measure, stop."""
    tmp = Path(tempfile.mkdtemp(prefix="ks_bench_serve_"))
    raw = _assets(tmp)
    tls_cfg = ks.serve.load_config(raw)
    plain_raw = {**raw, "server": {"host": "127.0.0.1", "port": 0}}
    plain_cfg = ks.serve.load_config(plain_raw)
    cafile = raw["server"]["certfile"]
    start = time.perf_counter()
    app = ks.serve.app(tls_cfg)
    startup = time.perf_counter() - start
    rows: list[Row] = []
    with (
        ks.serve.BackgroundServer(app, tls_cfg) as tls,
        ks.serve.BackgroundServer(app, plain_cfg, insecure_dev=True) as plain,
    ):
        backend = app.state.server.backends["good1", "digits"]
        for name, port, ca in (("HTTP", plain.port, None), ("HTTPS", tls.port, cafile)):
            rps = _throughput(port, ca)
            rows.append(
                Row(
                    GROUP,
                    f"requests/s, tiny model, 1 item, 4 keep-alive clients, {name}",
                    1 / rps,
                    note=f"{rps:.0f} req/s (sandbox backend; 2 shared CPU cores)",
                )
            )
        via_http, direct = _overhead(plain.port, backend)
        over = via_http - direct
        rows.append(
            Row(
                GROUP,
                "infer over HTTP (keep-alive, JSON, 1 item), median",
                via_http,
                "the same SandboxedModel called directly",
                direct,
                goal="overhead ≤ 2 ms",
                note=f"overhead {over * 1e3:.2f} ms per request ({'met' if over <= 2e-3 else 'NOT met'})",
            )
        )
        base = _load(tls.port, cafile, with_abuser=False)
        abused = _load(tls.port, cafile, with_abuser=True)
        ratio = abused["p99"] / base["p99"]
        clean = abused["lost"] == abused["doubled"] == abused["wrong"] == 0 and abused["good_codes"] == [200]
        rows.append(
            Row(
                GROUP,
                "well-behaved tenants' p99 under an abusive third tenant (HTTPS)",
                abused["p99"],
                "the same load without the abuser",
                base["p99"],
                goal="≤ 1.5x",
                note=f"{'met' if ratio <= 1.5 else 'NOT met'}; {abused['n_good']} good requests",
            )
        )
        rows.append(
            Row(
                GROUP,
                "answers: every request exactly one, with its own id",
                None,
                goal="0 lost",
                note=f"{abused['sent']} sent: lost {abused['lost']}, doubled {abused['doubled']}, "
                f"misattributed {abused['wrong']}; good tenants saw {abused['good_codes']}; "
                f"abuser got {abused['abuser']} ({'met' if clean else 'NOT met'})",
            )
        )
        restarts = app.state.server.backends["abuser", "crashy"].restarts()
        rows.append(
            Row(
                GROUP,
                "server start-up (2 sandboxes; workers load the models)",
                startup,
                note=f"the crash-inducing model's workers were replaced {restarts} times during the run",
            )
        )
    return rows
