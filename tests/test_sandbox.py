"""The sandbox: isolated pipelines give the in-process reports, and hostile stages are contained."""

from __future__ import annotations

import dataclasses
import io
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import _sandbox_faults as faults
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keras_sanitize as ks
from keras_sanitize.sandbox import _kernel

pytestmark = pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="the sandbox needs Linux")


@pytest.fixture(scope="module")
def box() -> Iterator[ks.sandbox.Sandbox]:
    with ks.sandbox.Sandbox(workers=2, memory_mb=512, timeout=2.0) as sandbox:
        yield sandbox


def _jpeg(w: int = 320, h: int = 240) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def _wav() -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    t = np.arange(8000) / 8000
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 440 * t)).astype("float32"), 8000, format="WAV")
    return buf.getvalue()


def _faulty(*stages: ks.Stage) -> ks.Pipeline:
    return ks.Pipeline(list(stages), modality="image")


def _same(a: ks.Report, b: ks.Report) -> None:
    assert (a.ok, a.modality, a.index, a.findings) == (b.ok, b.modality, b.index, b.findings)
    if isinstance(a.value, np.ndarray):
        assert isinstance(b.value, np.ndarray) and a.value.dtype == b.value.dtype
        np.testing.assert_array_equal(a.value, b.value)
    else:
        assert a.value == b.value
    assert set(a.timings) == set(b.timings)


# -- what was achieved ---------------------------------------------------------------------------
def test_isolation_names_every_layer_and_explains_absent_ones(box: ks.sandbox.Sandbox) -> None:
    iso, notes = box.isolation(), box.isolation_notes()
    assert tuple(iso) == ks.sandbox.LAYERS
    assert iso["process"] and iso["clean_env"] and iso["private_tmp"] and iso["rlimits"]
    for layer, on in iso.items():
        assert on or notes.get(layer), f"{layer} absent without a reason"


def _feature_or_skip(box: ks.sandbox.Sandbox, layer: str, present: bool, why: str) -> None:
    if not present:
        assert box.isolation()[layer] is False
        pytest.skip(f"{why}; isolation() reports {layer} absent")


def test_landlock_matches_the_kernel(box: ks.sandbox.Sandbox) -> None:
    abi = _kernel.landlock_abi()
    _feature_or_skip(box, "landlock", abi > 0, "this kernel has no Landlock")
    assert box.isolation()["landlock"] and box.isolation_notes()["landlock_abi"] == str(abi)


def test_seccomp_matches_the_kernel(box: ks.sandbox.Sandbox) -> None:
    reason = _kernel.seccomp_supported()
    _feature_or_skip(box, "seccomp", reason is None, f"no seccomp: {reason}")
    status = _probe(box)["status"]
    assert isinstance(status, str) and "Seccomp:\t2" in status and "NoNewPrivs:\t1" in status


def _probe(box: ks.sandbox.Sandbox) -> dict[str, object]:
    report = _faulty(faults.Probe()).isolated(box).run(b"x")
    assert report.ok, report
    value: dict[str, object] = report.value
    return value


def test_worker_sees_a_clean_env_private_tmp_and_limits(box: ks.sandbox.Sandbox) -> None:
    seen = _probe(box)
    env = seen["env"]
    assert isinstance(env, dict) and isinstance(seen["passwd"], str)
    assert not any(k.startswith(("AWS", "PYTHONPATH", "PATH", "USER")) for k in env), env
    assert seen["cwd"] == seen["tmp"] == env["TMPDIR"]
    assert str(seen["cwd"]).startswith(os.path.realpath(os.environ.get("TMPDIR", "/tmp")))
    assert seen["fsize"] == [0, 0] and seen["core"] == [0, 0]
    assert seen["as"][0] > 0 and seen["as"][0] != -1  # type: ignore[index]
    if box.isolation()["landlock"]:
        assert str(seen["passwd"]).startswith("error"), "Landlock should hide /etc/passwd"


def test_secrets_in_the_callers_environment_do_not_reach_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KS_TEST_SECRET", "hunter2")
    with ks.sandbox.Sandbox(workers=1) as fresh:
        assert "KS_TEST_SECRET" not in _probe(fresh)["env"]  # type: ignore[operator]


# -- same reports as in-process ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "modality, options, value",
    [
        ("image", {"size": (224, 224)}, _jpeg()),
        ("image", {"size": (32, 32)}, _jpeg() + b"<script>alert(1)</script>"),
        ("image", {"output": "bytes"}, _jpeg(64, 48)),
        ("image", {}, b"not an image at all"),
        ("text", {}, "hello \u202eevil"),
        ("audio", {"sample_rate": 16000}, _wav()),
        ("tensor", {}, np.array([1.0, np.nan])),
    ],
)
def test_isolated_report_equals_in_process(
    box: ks.sandbox.Sandbox, modality: str, options: dict[str, object], value: object
) -> None:
    pipe = getattr(ks, modality).default(**options)
    _same(pipe.run(value), pipe.isolated(box).run(value))
    assert [r.codes for r in pipe.run_batch([value, value])] == [
        r.codes for r in pipe.isolated(box).run_batch([value, value])
    ]


def test_default_pipelines_take_a_sandbox(box: ks.sandbox.Sandbox) -> None:
    image = ks.image.default(size=(16, 16), sandbox=box)
    audio = ks.audio.default(sandbox=box)
    assert isinstance(image, ks.sandbox.IsolatedPipeline) and image.sandbox is box
    assert isinstance(audio, ks.sandbox.IsolatedPipeline)
    assert image.run(_jpeg()).value.shape == (16, 16, 3)
    assert not isinstance(ks.image.default(sandbox=None), ks.sandbox.IsolatedPipeline)
    with pytest.raises(ks.ConfigError):
        ks.image.default(sandbox="yes")


def test_nested_isolated_pipeline_keeps_outer_policy(box: ks.sandbox.Sandbox) -> None:
    inner = ks.image.default(size=(8, 8))
    outer = ks.Pipeline([inner.isolated(box)], modality="image", mode="monitor")
    bad = _jpeg(40, 30) + b"trailing payload"
    expect = ks.Pipeline([inner], modality="image", mode="monitor").run(bad)
    got = outer.run(bad)
    assert (got.ok, got.codes) == (expect.ok, expect.codes)


def test_values_that_cannot_cross_are_refused(box: ks.sandbox.Sandbox) -> None:
    from PIL import Image

    report = ks.image.default().isolated(box).run(Image.new("RGB", (4, 4)))
    assert not report.ok and report.codes == ("sandbox.unsupported_value",)


def test_stage_defined_in_main_is_a_config_error(box: ks.sandbox.Sandbox) -> None:
    stage = faults.Probe()
    fake = type("Local", (faults.Probe,), {"__module__": "__main__"})
    stage.__class__ = fake
    with pytest.raises(ks.ConfigError, match="__main__"):
        ks.Pipeline([stage]).isolated(box)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2048))
def test_arbitrary_bytes_give_the_in_process_verdict(box: ks.sandbox.Sandbox, data: bytes) -> None:
    pipe = ks.image.default(size=(16, 16))
    a, b = pipe.run(data), pipe.isolated(box).run(data)
    assert (a.ok, a.codes) == (b.ok, b.codes)


# -- faults ------------------------------------------------------------------------------------------
def test_segfault_is_contained_and_the_next_input_served(box: ks.sandbox.Sandbox) -> None:
    report = _faulty(faults.Segfault()).isolated(box).run(b"x")
    assert not report.ok and report.codes == ("sandbox.crashed",)
    assert report.findings[0].detail["signal"] == "SIGSEGV" and report.findings[0].fatal
    assert ks.image.default(size=(8, 8)).isolated(box).run(_jpeg()).ok


def test_huge_png_without_header_checks_exceeds_memory() -> None:
    png = faults.huge_png(30_000, 30_000)
    with ks.sandbox.Sandbox(workers=1, memory_mb=512, timeout=30.0) as small:
        report = _faulty(faults.UncheckedDecode()).isolated(small).run(png)
        assert not report.ok and report.codes == ("sandbox.memory_exceeded",), report
        assert "memory_mb=512" in report.findings[0].message
        assert ks.image.default(size=(8, 8)).isolated(small).run(_jpeg()).ok
    # The default pipeline's header checks refuse it before any decoding.
    assert ks.image.default().run(png).codes[0].startswith("image.")


def test_busy_loop_times_out() -> None:
    with ks.sandbox.Sandbox(workers=1, timeout=0.5) as quick:
        report = _faulty(faults.BusyLoop()).isolated(quick).run(b"x")
        assert report.codes == ("sandbox.timeout",) and "timeout=0.5" in report.findings[0].message
        assert ks.text.default().isolated(quick).run("next").ok


def test_socket_connect_reaches_nobody(box: ks.sandbox.Sandbox) -> None:
    iso = box.isolation()
    if not (iso["seccomp"] or iso["network_namespace"]):
        pytest.skip("neither seccomp nor a network namespace here; isolation() says so")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.3)
        report = _faulty(faults.Connect(port=server.getsockname()[1])).isolated(box).run(b"x")
        with pytest.raises(TimeoutError):
            server.accept()
    assert not report.ok
    assert report.codes == (("sandbox.forbidden_syscall",) if iso["seccomp"] else ("core.internal_error",))
    assert ks.text.default().isolated(box).run("next").ok


def test_file_write_leaves_no_file(box: ks.sandbox.Sandbox, tmp_path: Path) -> None:
    present = _kernel.landlock_abi() > 0
    _feature_or_skip(box, "landlock", present, "no Landlock: the worker could create files")
    target = tmp_path / "escaped.txt"
    report = _faulty(faults.WriteFile(path=str(target))).isolated(box).run(b"x")
    assert not report.ok and report.findings[0].detail.get("exception") == "PermissionError"
    assert not target.exists()


def test_running_a_shell_is_refused(box: ks.sandbox.Sandbox, tmp_path: Path) -> None:
    _feature_or_skip(box, "seccomp", _kernel.seccomp_supported() is None, "no seccomp")
    marker = tmp_path / "shell_ran"
    forked = _faulty(faults.Shell(marker=str(marker))).isolated(box).run(b"x")
    assert not forked.ok and forked.codes == ("core.internal_error",)  # fork refused (EPERM)
    execd = _faulty(faults.Shell(marker=str(marker), how="execv")).isolated(box).run(b"x")
    assert execd.codes == ("sandbox.forbidden_syscall",)
    assert not marker.exists()
    assert ks.text.default().isolated(box).run("next").ok


def _shm() -> set[str]:
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow  # a hundred worker restarts
def test_a_thousand_mixed_inputs_with_a_tenth_killing_workers() -> None:
    shm_before = _shm()
    good = _jpeg(32, 24)
    values = [b"KILL" if i % 10 == 3 else good for i in range(1000)]
    pipe = ks.Pipeline([faults.Segfault(prefix="KILL"), ks.image.default(size=(8, 8))], modality="image")
    with ks.sandbox.Sandbox(workers=2) as pool:
        reports = pipe.isolated(pool).run_batch(values)
        pids = {w.pid for g in pool._groups.values() for w in g.all} | {pool._zygote.proc.pid}
    assert len(reports) == 1000 and [r.index for r in reports] == list(range(1000))
    for i, r in enumerate(reports):
        if i % 10 == 3:
            assert r.codes == ("sandbox.crashed",) and r.findings[0].index == i
        else:
            assert r.ok and r.value.shape == (8, 8, 3)
    assert not any(_alive(pid) for pid in pids)
    assert _shm() <= shm_before


def test_threads_share_one_sandbox(box: ks.sandbox.Sandbox) -> None:
    pipe = ks.image.default(size=(8, 8)).isolated(box)
    data = [_jpeg(20 + i, 20) for i in range(8)]
    expect = [ks.image.default(size=(8, 8)).run(d).value for d in data]
    errors: list[str] = []

    def work(k: int) -> None:
        for _ in range(10):
            r = pipe.run(data[k])
            if not (r.ok and np.array_equal(r.value, expect[k])):
                errors.append(r.summary())

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors


# -- arguments and life ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [{"workers": 0}, {"workers": True}, {"memory_mb": 0}, {"timeout": float("nan")}, {"cpu_seconds": -1},
     {"read_paths": "/etc"}, {"require": "seccomp"}, {"require": ["no_such_layer"]}, {"network": "no"},
     {"network": True, "require": ["network_namespace"]}, {"max_tasks_per_worker": 0}],
)  # fmt: skip
def test_bad_arguments_are_config_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ks.ConfigError):
        ks.sandbox.Sandbox(**kwargs)  # type: ignore[arg-type]


def test_require_available_layers_and_limits_dataclass() -> None:
    with ks.sandbox.Sandbox(workers=1, require=("process", "rlimits")) as sandbox:
        assert sandbox.limits == ks.sandbox.SandboxLimits()
    limits = ks.sandbox.SandboxLimits(memory_mb=256, timeout=1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        limits.memory_mb = 1  # type: ignore[misc]


def test_closed_sandbox_refuses_work_and_leaves_nothing() -> None:
    before = _shm()
    sandbox = ks.sandbox.Sandbox(workers=2, max_tasks_per_worker=3)
    pipe = ks.text.default().isolated(sandbox)
    assert all(r.ok for r in pipe.run_batch(["a"] * 10))
    pids = {w.pid for w in sandbox._pipelines.all} | {sandbox._zygote.proc.pid}
    sandbox.close()
    sandbox.close()
    assert sandbox.closed and not any(_alive(p) for p in pids)
    assert _shm() <= before
    with pytest.raises(ks.ConfigError):
        pipe.run("after close")
    with pytest.raises(ks.ConfigError):
        ks.text.default().isolated(sandbox)


def test_namespaces_match_the_kernel(box: ks.sandbox.Sandbox) -> None:
    import shutil
    import subprocess

    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("no unshare(1) to probe the kernel with")
    probe = subprocess.run([unshare, "-Urn", "true"], capture_output=True, timeout=30, check=False)
    _feature_or_skip(box, "user_namespace", probe.returncode == 0,
                     f"unprivileged user+network namespaces refused: {probe.stderr[-200:]!r}")  # fmt: skip
    assert box.isolation()["user_namespace"] and box.isolation()["network_namespace"]
    status = _probe(box)["status"]
    assert isinstance(status, str) and "NSpid" in status


# -- the caller's side of the boundary: a compromised worker's answers ---------------------------------
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["$a", "$b", "$s", "$t", "$d", "x", "o", "n", "k"]), inner, max_size=3),
    max_leaves=20,
)
_desc = st.fixed_dictionaries(
    {"k": st.sampled_from(["a", "b", "s", "z"]), "o": st.integers(-5, 5000), "n": st.integers(-5, 5000)},
    optional={"dtype": st.sampled_from(["<f4", "O", "|V0", "<i8", "[('a','O')]", "x" * 40, "<U3"]),
              "shape": st.lists(st.integers(-2, 50), max_size=3)},
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(body=_json, descs=st.lists(_desc, max_size=3), wire=_json)
def test_hostile_answers_raise_only_protocol_errors(body: object, descs: list[object], wire: object) -> None:
    from keras_sanitize.sandbox import _codec as codec

    arena = codec.Arena(4096)
    try:
        for attempt in (lambda: codec.decode(body, descs, arena),  # type: ignore[arg-type]
                        lambda: codec.report_from_wire(wire, descs, arena)):  # type: ignore[arg-type]  # fmt: skip
            try:
                value = attempt()
            except codec.ProtocolError:
                continue
            for leaf in _leaves(value):
                assert not (isinstance(leaf, np.ndarray) and leaf.dtype.hasobject)
    finally:
        arena.close()


def _leaves(value: object) -> Iterator[object]:
    if isinstance(value, (list, tuple)):
        for v in value:
            yield from _leaves(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, ks.Report):
        yield value.value
    else:
        yield value
