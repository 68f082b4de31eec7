"""Every bad input the serving issue lists, against a real uvicorn server on loopback.

Each case checks its status code and its JSON body (finding codes of the library),
and that the server keeps serving a well-behaved tenant afterwards.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from _serve import (
    IMAGE_DATA,
    KEYS,
    Raw,
    auth,
    body_json,
    bytes_request,
    config,
    digits_request,
    make_assets,
    raw_socket,
    read_response,
)

import keras_sanitize as ks

# The HTTP layer is what these tests exercise: they run models in-process for speed.
# tests/test_serve_sandbox.py runs the same server on the default sandbox backend.
BACKEND = "in-process"

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return make_assets(tmp_path_factory.mktemp("serve_abuse"))


@pytest.fixture(scope="module")
def server(assets: dict[str, Any]) -> Iterator[Any]:
    cfg = ks.serve.load_config(config(assets, body_timeout=1.0, max_json_depth=8))
    app = ks.serve.app(cfg, backend=BACKEND)
    with ks.serve.BackgroundServer(app, cfg, insecure_dev=True) as srv:
        srv.app = app
        yield srv


@pytest.fixture
def raw(server: Any) -> Raw:
    return Raw(server.port)


def refusal(doc: Any, code: str) -> dict[str, Any]:
    """The finding with ``code`` in a refusal body (which must have the documented shape)."""
    assert isinstance(doc, dict) and isinstance(doc["error"], str) and doc["error"]
    assert all(isinstance(f["code"], str) and isinstance(f["message"], str) for f in doc["findings"])
    found = [f for f in doc["findings"] if f["code"] == code]
    assert found, (code, doc)
    return found[0]


def still_serving(raw: Raw) -> None:
    status, _, doc = raw.infer("digits", digits_request(1), "bob")
    assert status == 200, doc
    assert len(doc["outputs"][0]["data"]) == 10


# -- authentication and authorization ------------------------------------------------------------


def test_no_key_is_401(raw: Raw) -> None:
    status, headers, doc = raw.infer("digits", digits_request(), tenant=None)
    assert status == 401
    assert headers["www-authenticate"].startswith("Bearer")
    refusal(doc, "serve.unauthorized")
    still_serving(raw)


@pytest.mark.parametrize(
    "header",
    ["Bearer wrong-key", "Bearer " + KEYS["alice"] + "x", "Basic YWxpY2U6", "Bearer", "Bearer " + "k" * 5000],
)
def test_wrong_key_is_401(raw: Raw, header: str) -> None:
    status, _, doc = raw.infer("digits", digits_request(), tenant=None, headers={"Authorization": header})
    assert status == 401
    refusal(doc, "serve.unauthorized")


def test_another_tenants_key_cannot_reach_models_it_lacks(raw: Raw) -> None:
    # bob's valid key acts as bob: alice's image model is refused, not served
    status, _, doc = raw.infer("images", {"inputs": []}, tenant="bob")
    assert status == 403
    assert "images" in refusal(doc, "serve.forbidden")["message"]


def test_another_tenants_model_is_403_and_absent_from_listing(raw: Raw) -> None:
    status, _, doc = raw.infer(
        "secret",
        {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [1, 2]}]},
        tenant="alice",
    )
    assert status == 403
    refusal(doc, "serve.forbidden")
    status, _, doc = raw.request("GET", "/v2/models/secret", headers=auth("alice"))
    assert status == 403
    status, _, listing = raw.request("POST", "/v2/repository/index", b"{}", auth("alice"))
    assert status == 200
    assert sorted(m["name"] for m in listing) == ["digits", "images"]
    status, _, listing = raw.request("POST", "/v2/repository/index", b"{}", auth("bob"))
    assert sorted(m["name"] for m in listing) == ["digits", "secret"]


@pytest.mark.parametrize(
    "path",
    [
        "/v2/models/../secret/infer",
        "/v2/models/%2e%2e%2fsecret/infer",
        "/v2/models/..%2Fsecret/infer",
        "/v2/models/digits%2F..%2F..%2F..%2Fetc%2Fpasswd/infer",
        "/v2/models/%2Fetc%2Fpasswd/infer",
        "/v2/models/..%5c..%5csecret/infer",
        "/v2/models/digits.keras/infer",
        "/v2/models/%00digits/infer",
    ],
)
def test_path_like_model_names_are_never_resolved(raw: Raw, path: str, assets: dict[str, Any]) -> None:
    body = json.dumps(digits_request()).encode()
    status, _, doc = raw.request("POST", path, body, {**auth("alice"), "Content-Type": "application/json"})
    assert status == 404
    assert doc["findings"][0]["code"] in ("serve.unknown_model", "serve.not_found")
    still_serving(raw)


def test_unknown_model_is_404(raw: Raw) -> None:
    status, _, doc = raw.infer("nope", digits_request())
    assert status == 404
    assert "nope" in refusal(doc, "serve.unknown_model")["message"]
    status, _, doc = raw.request("GET", "/v2/models/nope/ready", headers=auth("alice"))
    assert status == 404


# -- bodies ----------------------------------------------------------------------------------------


def test_declared_oversize_body_is_413_without_reading_it(server: Any, raw: Raw) -> None:
    # alice's max_body_bytes is 256 KiB; declare 2 GB and send only the headers
    s = raw_socket(
        server.port,
        b"POST /v2/models/digits/infer HTTP/1.1\r\nHost: x\r\n"
        + f"Authorization: Bearer {KEYS['alice']}\r\n".encode()
        + b"Content-Type: application/json\r\nContent-Length: 2147483648\r\n\r\n",
    )
    try:
        status, data = read_response(s)
    finally:
        s.close()
    assert status == 413
    refusal(body_json(data), "serve.too_many_bytes")
    still_serving(raw)


def test_streamed_2gb_body_is_cut_at_the_cap(server: Any, raw: Raw, caplog: pytest.LogCaptureFixture) -> None:
    """A chunked body with no Content-Length: the server stops reading at the cap and says so."""
    caplog.set_level(logging.INFO, logger="keras_sanitize.serve.access")
    s = raw_socket(
        server.port,
        b"POST /v2/models/digits/infer HTTP/1.1\r\nHost: x\r\n"
        + f"Authorization: Bearer {KEYS['alice']}\r\nx-request-id: bigbody\r\n".encode()
        + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    chunk = b"%x\r\n%s\r\n" % (65536, b"[" * 65536)
    sent = 0
    try:
        s.settimeout(2.0)
        while sent < (2 << 30):  # would be 2 GB; the server cuts it after 256 KiB
            try:
                s.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                break
            sent += 65536
        status, data = read_response(s)
    finally:
        s.close()
    assert sent < 64 << 20  # the server stopped reading long before 2 GB
    if status:  # the 413 may be lost when the server closes while we still send; the log has it
        assert status == 413
        refusal(body_json(data), "serve.too_many_bytes")
    logs = [json.loads(r.getMessage()) for r in caplog.records if r.name == "keras_sanitize.serve.access"]
    line = [x for x in logs if x["id"] == "bigbody"]
    assert line and line[0]["status"] == 413
    # read up to the cap plus one transport read (asyncio reads at most 256 KiB at a time), not further
    assert 262144 < line[0]["bytes_in"] <= 262144 + 262144
    still_serving(raw)


def test_slow_body_is_408(server: Any, raw: Raw) -> None:
    body = json.dumps(digits_request()).encode()
    s = raw_socket(
        server.port,
        b"POST /v2/models/digits/infer HTTP/1.1\r\nHost: x\r\n"
        + f"Authorization: Bearer {KEYS['bob']}\r\n".encode()
        + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode(),
    )
    start = time.monotonic()
    try:
        for i in range(12):  # one byte every 0.2 s; body_timeout is 1 s
            try:
                s.sendall(body[i : i + 1])
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.2)
        status, data = read_response(s)
    finally:
        s.close()
    assert status == 408
    refusal(body_json(data), "serve.body_timeout")
    assert time.monotonic() - start < 8
    still_serving(raw)


def test_compressed_body_is_refused(raw: Raw) -> None:
    status, _, doc = raw.infer("digits", b"\x1f\x8b\x08\x00", headers={"Content-Encoding": "gzip"})
    assert status == 415
    refusal(doc, "serve.unsupported_encoding")


@pytest.mark.parametrize("depth", [9, 100, 100_000])
def test_deeply_nested_json_is_400(raw: Raw, depth: int) -> None:
    body = b'{"inputs": ' + b"[" * depth + b"]" * depth + b"}"
    status, _, doc = raw.infer("digits", body)
    assert status == 400
    finding = refusal(doc, "serve.json_too_deep")
    assert "max_json_depth" in finding["message"]
    still_serving(raw)


def test_brackets_inside_strings_do_not_count_as_depth(raw: Raw) -> None:
    doc = digits_request(1)
    doc["id"] = "[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{"
    status, _, out = raw.infer("digits", doc)
    assert status == 200, out
    assert out["id"] == doc["id"]


@pytest.mark.parametrize("body", [b'{"inputs": [\xff\xfe]}', b'{"id": "\xc3\x28"}', b"\x80" * 10])
def test_invalid_utf8_is_400(raw: Raw, body: bytes) -> None:
    status, _, doc = raw.infer("digits", body)
    assert status == 400
    refusal(doc, "serve.invalid_utf8")


@pytest.mark.parametrize("body", [b"", b"{", b"[1, 2]", b'{"inputs": "x"}', b"null", b'{"inputs": [{}]}'])
def test_malformed_requests_are_400(raw: Raw, body: bytes) -> None:
    status, _, doc = raw.infer("digits", body)
    assert status == 400
    assert doc["findings"][0]["code"].startswith("serve.")


# -- tensors ----------------------------------------------------------------------------------------


def test_wrong_datatype_is_refused(raw: Raw) -> None:
    doc = {"inputs": [{"name": "pixels", "datatype": "BYTES", "shape": [1], "data": ["hello"]}]}
    status, _, out = raw.infer("digits", doc)
    assert status == 400
    refusal(out, "serve.datatype")
    doc = {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 64], "data": ["x"] * 64}]}
    status, _, out = raw.infer("digits", doc)
    assert status == 400
    refusal(out, "serve.datatype")
    doc = {"inputs": [{"name": "pixels", "datatype": "COMPLEX", "shape": [1, 64], "data": [0] * 64}]}
    assert raw.infer("digits", doc)[0] == 400
    # BOOL is a valid v2 type the model does not take: the library's tensor guard refuses each item
    doc = {"inputs": [{"name": "pixels", "datatype": "BOOL", "shape": [2, 64], "data": [True] * 128}]}
    status, _, out = raw.infer("digits", doc)
    assert status == 422
    assert {f["index"] for f in out["findings"] if f["code"] == "tensor.dtype"} == {0, 1}


def test_wrong_shape_is_refused_per_item(raw: Raw) -> None:
    doc = {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [3, 5], "data": [0.1] * 15}]}
    status, _, out = raw.infer("digits", doc)
    assert status == 422
    assert {f["index"] for f in out["findings"] if f["code"] == "tensor.shape"} == {0, 1, 2}
    doc = {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [2, 64], "data": [0.1] * 100}]}
    status, _, out = raw.infer("digits", doc)
    assert status == 400
    refusal(out, "serve.shape_mismatch")
    doc = {"inputs": [{"name": "other", "datatype": "FP32", "shape": [1, 64], "data": [0.1] * 64}]}
    status, _, out = raw.infer("digits", doc)
    assert status == 400
    refusal(out, "serve.unknown_input")


def test_non_finite_items_are_refused_per_item_in_a_batch(raw: Raw) -> None:
    data = [0.5] * 64 + [float("nan")] + [0.5] * 63 + [0.25] * 64
    doc = {"id": "mixed", "inputs": [{"name": "pixels", "datatype": "FP32", "shape": [3, 64], "data": data}]}
    body = json.dumps(doc).encode()  # Python writes NaN, as numpy-based clients do
    status, _, out = raw.infer("digits", body)
    assert status == 200
    rows = out["outputs"][0]["data"]
    assert out["outputs"][0]["shape"] == [3, 10]
    assert rows[10:20] == [None] * 10 and None not in rows[:10] + rows[20:]
    assert [f["index"] for f in out["findings"]] == [1]
    assert out["findings"][0]["code"] == "tensor.non_finite"
    assert out["parameters"]["refused_items"] == 1


def test_batch_size_cap(raw: Raw) -> None:
    status, _, out = raw.infer("digits", digits_request(9), tenant="bob")  # bob: max_batch = 8
    assert status == 400
    assert "max_batch" in refusal(out, "serve.batch_too_large")["message"]
    assert raw.infer("digits", digits_request(8), tenant="bob")[0] == 200


def test_element_cap_is_checked_before_data(raw: Raw) -> None:
    doc = {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [2**30, 2**20], "data": []}]}
    status, _, out = raw.infer("digits", doc)
    assert status == 413
    refusal(out, "serve.too_many_elements")


def test_decompression_bomb_image_is_refused_before_decoding(raw: Raw) -> None:
    bomb = (IMAGE_DATA / "declared_huge.png").read_bytes()
    body, headers = bytes_request([bomb])
    status, _, out = raw.infer("images", body, headers=headers)
    assert status == 422
    assert refusal(out, "image.too_many_pixels")["index"] == 0
    good = (IMAGE_DATA / "gradient.png").read_bytes()
    body, headers = bytes_request([good, bomb, good])
    status, _hdrs, out = raw.infer("images", body, headers=headers)
    assert status == 200
    assert [f["index"] for f in out["findings"]] == [1]
    rows = out["outputs"][0]["data"]
    assert rows[3:6] == [None] * 3 and None not in rows[:3] + rows[6:]


def test_bytes_framing_errors_are_400(raw: Raw) -> None:
    body, headers = bytes_request([b"abc"])
    for data, hdrs in (
        (body[:-1], headers),  # the declared size no longer fits
        (body, {"Inference-Header-Content-Length": "999999"}),
        (body, {"Inference-Header-Content-Length": "-1"}),
    ):
        status, _, out = raw.infer("images", data, headers=hdrs)
        assert status == 400
        assert out["findings"][0]["code"].startswith("serve.")


def test_image_sent_as_json_string_is_not_base64_decoded(raw: Raw) -> None:
    png = base64.b64encode((IMAGE_DATA / "gradient.png").read_bytes()).decode()
    doc = {"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], "data": [png]}]}
    status, _, out = raw.infer("images", doc)
    assert status == 422  # base64 text is not an image; the library says what it saw
    assert out["findings"][0]["code"].startswith("image.")


# -- rate, concurrency ------------------------------------------------------------------------------


def test_flood_at_ten_times_the_rate_gets_429_and_others_are_served(raw: Raw) -> None:
    results: list[tuple[int, dict[str, str], Any]] = []
    start = time.monotonic()
    for _ in range(50):  # flood: rate 5/s, burst 5 -> ~50/s is 10x
        results.append(raw.infer("digits", digits_request(1), "flood"))
        time.sleep(max(0.0, start + len(results) * 0.02 - time.monotonic()))
    elapsed = time.monotonic() - start
    ok = [r for r in results if r[0] == 200]
    limited = [r for r in results if r[0] == 429]
    assert len(ok) + len(limited) == 50
    assert len(ok) <= 5 + 5 * elapsed + 1
    assert len(limited) >= 30
    _status, headers, doc = limited[0]
    assert int(headers["retry-after"]) >= 1
    assert "rate" in refusal(doc, "serve.rate_limited")["message"]
    still_serving(raw)


def test_concurrency_cap(server: Any, raw: Raw) -> None:
    """flood's max_concurrency is 1: while one request's body is still arriving, a second gets 429."""
    time.sleep(1.2)  # let flood's bucket refill after the flood test
    body = json.dumps(digits_request(1)).encode()
    s = raw_socket(
        server.port,
        b"POST /v2/models/digits/infer HTTP/1.1\r\nHost: x\r\n"
        + f"Authorization: Bearer {KEYS['flood']}\r\n".encode()
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body[:5],
    )
    try:
        time.sleep(0.2)
        status, _headers, doc = raw.infer("digits", digits_request(1), "flood")
        assert status == 429
        refusal(doc, "serve.too_many_concurrent")
        s.sendall(body[5:])
        status, _ = read_response(s)
        assert status == 200
    finally:
        s.close()


def test_concurrent_tenants_get_their_own_answers(raw: Raw) -> None:
    """Threads of two tenants: every request gets exactly one answer, with its own id."""
    answers: dict[str, Any] = {}

    def worker(tenant: str, k: int) -> None:
        for i in range(5):
            rid = f"{tenant}-{k}-{i}"
            status, _, doc = raw.infer("digits", digits_request(1, fill=i / 10, rid=rid), tenant)
            answers[rid] = (status, doc.get("id"))

    threads = [threading.Thread(target=worker, args=(t, k)) for t in ("alice", "bob") for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(answers) == 20
    assert all(status in (200, 429) for status, _ in answers.values())
    assert all(rid == got for rid, (status, got) in answers.items() if status == 200)


def test_hostile_json_fields(raw: Raw) -> None:
    for doc in (
        {"id": 5, **digits_request(1)},
        {"id": "x" * 300, **digits_request(1)},
        {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [-1, 64], "data": []}]},
        {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [True, 64], "data": []}]},
        {"inputs": [{"name": "pixels", "datatype": "INT64", "shape": [1, 64], "data": [10**30] * 64}]},
        {
            "inputs": [
                {
                    "name": "pixels",
                    "datatype": "FP32",
                    "shape": [1, 64],
                    "parameters": {"binary_data_size": 256},
                }
            ]
        },
        {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 64], "data": [0] * 64}] * 20},
    ):
        status, _, out = raw.infer("digits", doc)
        assert status == 400, (doc, out)
        assert out["findings"][0]["code"].startswith("serve.")
    still_serving(raw)


def test_unknown_routes_and_methods_answer_json(raw: Raw) -> None:
    status, _, doc = raw.request("GET", "/etc/passwd")
    assert status == 404 and doc["findings"][0]["code"] == "serve.not_found"
    status, _, doc = raw.request("DELETE", "/v2/models/digits", headers=auth("alice"))
    assert status in (404, 405)


def test_key_file_paths_never_leak(raw: Raw, assets: dict[str, Any]) -> None:
    status, _, doc = raw.request("GET", "/v2/models/digits", headers=auth("alice"))
    assert status == 200
    assert str(assets["dir"]) not in json.dumps(doc)


def test_model_files_are_only_read_at_startup(
    assets: dict[str, Any], server: Any, raw: Raw, tmp_path: Path
) -> None:
    # the server loaded private copies: replacing the file on disk changes nothing it serves
    before = raw.infer("digits", digits_request(1))[2]["outputs"][0]["data"]
    target = assets["dir"] / "secret.keras"
    saved = target.read_bytes()
    try:
        target.write_bytes(b"garbage")
        after = raw.infer("digits", digits_request(1))[2]["outputs"][0]["data"]
        assert before == after
        assert (
            raw.infer(
                "secret",
                {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [1, 2]}]},
                "bob",
            )[0]
            == 200
        )
    finally:
        target.write_bytes(saved)


# -- properties ---------------------------------------------------------------------------------------

_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=20,
)
_tensor = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["pixels", "image", "x"]) | st.text(max_size=4),
        "datatype": st.sampled_from(["FP32", "INT64", "BYTES", "BOOL", "FP16", "UINT8"])
        | st.text(max_size=4),
        "shape": st.lists(st.integers(-2, 70), max_size=3),
        "data": st.lists(st.floats() | st.integers() | st.text(max_size=3), max_size=70),
        "parameters": st.dictionaries(st.sampled_from(["binary_data_size", "x"]), _values, max_size=2),
    },
)
_request = st.fixed_dictionaries(
    {"inputs": st.lists(_tensor, max_size=3) | _values},
    optional={"id": _values, "outputs": _values, "parameters": _values},
)


@given(
    doc=_request | _values,
    model=st.sampled_from(["digits", "images", "secret", "nope"]),
    tail=st.binary(max_size=64),
    header=st.none()
    | st.integers(-5, 3000).map(str)
    | st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=5),
)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_request_gets_a_4xx_or_200_with_a_json_body(
    server: Any, doc: Any, model: str, tail: bytes, header: str | None
) -> None:
    """Random infer requests (JSON, binary tails, bogus header lengths): never a 5xx, always a body."""
    raw = Raw(server.port)
    body = json.dumps(doc).encode() + tail
    headers = {} if header is None else {"Inference-Header-Content-Length": header}
    status, _, out = raw.infer(model, body, "alice", headers=headers)
    assert status == 200 or 400 <= status < 500, (status, out)
    if status == 200:
        assert isinstance(out, (dict, bytes))
    elif status != 429:  # a flood of examples may meet the rate limit; its body is checked elsewhere
        assert isinstance(out, dict) and out["findings"] and out["findings"][0]["code"]


def test_a_refused_requests_body_is_never_taken_for_a_request(server: Any, raw: Raw) -> None:
    """A request refused before its body was read: the body is skipped (small) or the connection
    closed (large), never parsed as a request of its own."""
    inner = json.dumps(digits_request(1)).encode()
    smuggled = (
        b"POST /v2/models/digits/infer HTTP/1.1\r\nHost: x\r\n"
        + f"Authorization: Bearer {KEYS['bob']}\r\nx-request-id: smuggled\r\n".encode()
        + f"Content-Length: {len(inner)}\r\n\r\n".encode()
        + inner
    )
    for padding in (0, 70_000):  # drained and kept alive; too big to drain, closed
        body = smuggled + b" " * padding
        s = raw_socket(
            server.port,
            b"POST /v2/models/digits/infer HTTP/1.1\r\nHost: x\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body,
        )
        data = b""
        try:
            s.settimeout(1.5)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        finally:
            s.close()
        assert data.count(b"HTTP/1.1 ") == 1 and data.startswith(b"HTTP/1.1 401"), data[:300]
        assert b"smuggled" not in data
        assert (b"connection: close" in data.lower()) == bool(padding)
    still_serving(raw)


def test_oversize_headers_are_refused_by_the_h11_limit(server: Any, raw: Raw) -> None:
    s = raw_socket(
        server.port, b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n"
    )
    try:
        status, _ = read_response(s)
    finally:
        s.close()
    assert status in (0, 400, 431)  # refused or cut; never parsed into a request
    still_serving(raw)


def test_request_timeout_then_circuit_breaker(raw: Raw) -> None:
    """The slow tenant's 1 ms request_timeout: 504 serve.timeout; the 4th timeout in a minute opens
    its circuit breaker (breaker_crashes = 3): 429 serve.circuit_open with Retry-After."""
    png = (IMAGE_DATA / "gradient.png").read_bytes()
    body, headers = bytes_request([png] * 32)
    for _ in range(4):
        status, _, out = raw.infer("images", body, "slow", headers=headers)
        assert status == 504, out
        assert "request_timeout" in refusal(out, "serve.timeout")["message"]
    status, hdrs, out = raw.infer("images", body, "slow", headers=headers)
    assert status == 429
    refusal(out, "serve.circuit_open")
    assert 50 <= int(hdrs["retry-after"]) <= 60
    metrics = raw.request("GET", "/metrics")[2].decode()
    assert 'ks_serve_crashes_total{model="images",tenant="slow"} 4.0' in metrics
    still_serving(raw)
