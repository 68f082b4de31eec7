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
    images = keras.Sequential(
        [keras.Input((8, 8, 1), name="image"), keras.layers.Flatten(), keras.layers.Dense(3)]
    )
    images.save(folder / "images.keras")
    pipe = ks.Pipeline(
        [faults.Segfault(prefix="KILL"), ks.image.default(size=(8, 8), color_mode="L")], modality="image"
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


class _ServerProcess:
    """The server in its own process (its own GIL): TLS and plain listeners on one app.

    Lines on stdin are commands: ``direct N`` times N direct calls of the tiny model's
    backend (the same sandbox workers the server uses) and answers the median; ``stats``
    answers the crash-inducing model's restart count; EOF stops the server.
    """

    def __init__(self, config_path: Path) -> None:
        import subprocess

        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(config_path)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.info = self._answer(timeout=300)

    def _answer(self, timeout: float) -> dict[str, Any]:
        import select

        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.close()
            raise RuntimeError("the bench server did not answer")
        out: dict[str, Any] = json.loads(line)
        return out

    def ask(self, command: str, timeout: float = 120) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._answer(timeout)

    def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except Exception:
            self.proc.kill()
            self.proc.wait(timeout=30)


def _serve_main(config_path: str) -> None:
    import _sandbox_faults  # noqa: F401  (registers the crash-inducing stage the policy names)

    raw = json.loads(Path(config_path).read_text())
    tls_cfg = ks.serve.load_config(raw)
    plain_cfg = ks.serve.load_config({**raw, "server": {"host": "127.0.0.1", "port": 0}})
    start = time.perf_counter()
    app = ks.serve.app(tls_cfg)
    startup = time.perf_counter() - start
    backends = app.state.server.backends
    fast_cfg = ks.serve.load_config({**raw, "server": {"host": "127.0.0.1", "port": 0, "http": "httptools"}})
    with (
        ks.serve.BackgroundServer(app, tls_cfg) as tls,
        ks.serve.BackgroundServer(app, plain_cfg, insecure_dev=True) as plain,
        ks.serve.BackgroundServer(app, fast_cfg, insecure_dev=True) as fast,
    ):
        ports = {"tls": tls.port, "plain": plain.port, "fast": fast.port}
        print(json.dumps({**ports, "startup": startup}), flush=True)
        x = np.full((1, 64), 0.5, np.float32)
        for line in sys.stdin:
            cmd = line.split()
            if cmd[:1] == ["direct"]:
                times = []
                for _ in range(int(cmd[1])):
                    t0 = time.perf_counter()
                    backends["good1", "digits"].infer(x)
                    times.append(time.perf_counter() - t0)
                print(json.dumps({"median": statistics.median(times)}), flush=True)
            elif cmd[:1] == ["stats"]:
                print(json.dumps({"restarts": backends["abuser", "crashy"].restarts()}), flush=True)


def _overhead(
    server: _ServerProcess, port: int, blocks: int = 16, per: int = 20
) -> tuple[float, float, float]:
    """Alternating blocks of HTTP requests and direct calls; (median HTTP, median direct, median of
    the per-block differences): on a busy machine, drift hits neighbouring blocks alike."""
    conn = _Conn(port, None)
    http_t: list[float] = []
    direct: list[float] = []
    diffs: list[float] = []
    for b in range(blocks + 1):
        block = []
        for i in range(per):
            rid = f"o{b}-{i}"
            t0 = time.perf_counter()
            status, _, _ = conn.post("/v2/models/digits/infer", _digits(rid), _headers("good1", rid))
            block.append(time.perf_counter() - t0)
            assert status == 200
        answer = server.ask(f"direct {per}")["median"]
        if b:  # the first block warms up
            http_t.extend(block)
            direct.append(answer)
            diffs.append(statistics.median(block) - answer)
    conn.close()
    return statistics.median(http_t), statistics.median(direct), statistics.median(diffs)


class _Tally:
    """Requests sent and answers received, by request id (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent: dict[str, str] = {}
        self.answers: dict[str, list[tuple[int, str | None]]] = {}
        self.latency: list[float] = []
        self.status: dict[str, int] = {}

    def send(self, rid: str, tenant: str) -> None:
        with self.lock:
            self.sent[rid] = tenant

    def answer(self, rid: str, status: int, hdrs: dict[str, str], data: bytes, seconds: float | None) -> None:
        got = hdrs.get("x-request-id")
        if status == 200:
            got = json.loads(data).get("id")
        with self.lock:
            self.answers.setdefault(rid, []).append((status, got))
            key = str(status)
            if status != 200 and data.startswith(b"{"):
                key += " " + str((json.loads(data).get("findings") or [{}])[0].get("code", ""))
            self.status[key] = self.status.get(key, 0) + 1
            if seconds is not None:
                self.latency.append(seconds)


def _good(tally: _Tally, port: int, cafile: str, tenant: str, stop: float, per_second: float = 15.0) -> None:
    conn = _Conn(port, cafile)
    i, t0 = 0, time.monotonic()
    while time.monotonic() < stop:
        rid = f"{tenant}-{i}"
        tally.send(rid, tenant)
        start = time.perf_counter()
        status, hdrs, data = conn.post("/v2/models/digits/infer", _digits(rid), _headers(tenant, rid))
        tally.answer(rid, status, hdrs, data, time.perf_counter() - start)
        i += 1
        time.sleep(max(0.0, t0 + i / per_second - time.monotonic()))
    conn.close()


def _abuse(tally: _Tally, port: int, cafile: str, kind: str, stop: float) -> None:
    """Flood at 10x the rate, oversize bodies, or crash-inducing images (one kind per thread)."""
    conn = _Conn(port, cafile)
    per_second = {"flood": ABUSER_RATE * 10, "oversize": 5.0, "crash": 2.0}[kind]
    png = (ROOT / "tests" / "data" / "image" / "gradient.png").read_bytes()
    if kind == "flood":
        time.sleep(1.0)  # the crash inputs go first, before the flood drains the bucket
    i, t0 = 0, time.monotonic()
    while time.monotonic() < stop:
        rid = f"abuser-{kind}-{i}"
        tally.send(rid, "abuser")
        headers = _headers("abuser", rid)
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
            headers["Inference-Header-Content-Length"] = str(len(head))
        try:
            status, hdrs, data = conn.post(path, body, headers)
            tally.answer(rid, status, hdrs, data, None)
        except (ConnectionError, OSError, http.client.HTTPException):
            conn.close()  # the server cut an oversize body at the cap and closed: that is its answer
            tally.answer(rid, 413, {"x-request-id": rid}, b"", None)
        i += 1
        time.sleep(max(0.0, t0 + i / per_second - time.monotonic()))
    conn.close()


def _abuse_main(port: str, cafile: str, seconds: str) -> None:
    tally = _Tally()
    stop = time.monotonic() + float(seconds)
    threads = [
        threading.Thread(target=_abuse, args=(tally, int(port), cafile, k, stop))
        for k in ("flood", "oversize", "crash")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(float(seconds) + 60)
    print(json.dumps({"sent": tally.sent, "answers": tally.answers, "status": tally.status}))


def _load(port: int, cafile: str, with_abuser: bool, seconds: float = 6.0) -> dict[str, Any]:
    """Two good tenants at 15 req/s each (paced), plus the abuser in its own process if asked."""
    import subprocess

    tally = _Tally()
    abuser = None
    if with_abuser:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
        abuser = subprocess.Popen(
            [sys.executable, __file__, "--abuse", str(port), cafile, str(seconds)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(0.5)
    stop = time.monotonic() + seconds
    threads = [
        threading.Thread(target=_good, args=(tally, port, cafile, t, stop)) for t in ("good1", "good2")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    good_status = dict(tally.status)
    abuser_status: dict[str, int] = {}
    if abuser is not None:
        out, _ = abuser.communicate(timeout=seconds + 120)
        doc = json.loads(out)
        tally.sent.update(doc["sent"])
        for rid, a in doc["answers"].items():
            tally.answers.setdefault(rid, []).extend((s, g) for s, g in a)
        abuser_status = doc["status"]
    lost = [rid for rid in tally.sent if rid not in tally.answers]
    doubled = [rid for rid, a in tally.answers.items() if len(a) != 1]
    wrong = [rid for rid, a in tally.answers.items() if a and a[0][1] != rid]
    latency = sorted(tally.latency)
    return {
        "p99": latency[max(0, int(len(latency) * 0.99) - 1)],
        "n_good": len(latency),
        "lost": len(lost),
        "doubled": len(doubled),
        "wrong": len(wrong),
        "good_status": good_status,
        "abuser": abuser_status,
        "sent": len(tally.sent),
    }


def run() -> list[Row]:
    """Start the server in its own process, measure from this one, stop it."""
    tmp = Path(tempfile.mkdtemp(prefix="ks_bench_serve_"))
    raw = _assets(tmp)
    cafile = raw["server"]["certfile"]
    config_path = tmp / "config.json"
    config_path.write_text(json.dumps(raw))
    server = _ServerProcess(config_path)
    rows: list[Row] = []
    try:
        info = server.info
        for name, port, ca in (
            ("HTTP, h11", info["plain"], None),
            ("HTTPS, h11", info["tls"], cafile),
            ("HTTP, httptools", info["fast"], None),
        ):
            rps = _throughput(port, ca)
            rows.append(
                Row(
                    GROUP,
                    f"req/s, tiny model, 4 clients, {name}",
                    1 / rps,
                    note=f"{rps:.0f} req/s",
                )
            )
        for name, port in (("HTTP/h11", info["plain"]), ("HTTP/httptools", info["fast"])):
            via_http, direct, over = _overhead(server, port)
            rows.append(
                Row(
                    GROUP,
                    f"one infer over {name} (JSON, 1 item), median",
                    via_http,
                    "the same sandboxed model called directly",
                    direct,
                    goal="overhead ≤ 2 ms",
                    note=f"overhead {over * 1e3:.2f} ms ({'met' if over <= 2e-3 else 'NOT met'})",
                )
            )
        base = _load(server.info["tls"], cafile, with_abuser=False)
        abused = _load(server.info["tls"], cafile, with_abuser=True)
        ratio = abused["p99"] / base["p99"]
        clean = abused["lost"] == abused["doubled"] == abused["wrong"] == 0 and set(
            abused["good_status"]
        ) == {"200"}
        rows.append(
            Row(
                GROUP,
                "good tenants' p99 with an abusive third tenant (HTTPS)",
                abused["p99"],
                "the same load without the abuser",
                base["p99"],
                goal="≤ 1.5x",
                note=f"{'met' if ratio <= 1.5 else 'NOT met'}; {abused['n_good']} good requests",
            )
        )
        verdict = "met" if clean else "NOT met"
        rows.append(
            Row(
                GROUP,
                f"answered once, own id: {abused['sent']} requests",
                None,
                goal="0 lost",
                note=f"lost {abused['lost']}, doubled {abused['doubled']}, "
                f"misattributed {abused['wrong']} ({verdict})",
            )
        )
        rows.append(
            Row(
                GROUP,
                "good tenants' statuses under abuse",
                None,
                goal="all 200",
                note=", ".join(f"{k}: {v}" for k, v in sorted(abused["good_status"].items())),
            )
        )
        for key, count in sorted(abused["abuser"].items()):
            rows.append(Row(GROUP, f"abuser got {key}", None, note=f"{count} responses"))
        restarts = server.ask("stats")["restarts"]
        rows.append(Row(GROUP, "crash-inducing model's workers replaced", None, note=f"{restarts} times"))
        rows.append(
            Row(GROUP, "server start-up (2 sandboxes; workers load the models)", server.info["startup"])
        )
    finally:
        server.close()
    return rows


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        _serve_main(sys.argv[2])
    elif sys.argv[1:2] == ["--abuse"]:
        _abuse_main(*sys.argv[2:5])
