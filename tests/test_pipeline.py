"""The core contract: errors, findings, reports, stages, pipelines, configs, validate()."""

from __future__ import annotations

import json
import pickle
import threading
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import keras_sanitize as ks
from keras_sanitize.fuzzing.strategies import hostile_values
from keras_sanitize.stage import Context


@ks.register_stage("tests")
class Upper(ks.Filter):
    """A filter that upper-cases strings (for pipeline tests)."""

    modality = "text"

    def process(self, value: Any, ctx: Context) -> Any:
        if not isinstance(value, str):
            ctx.halt("test.not_str", f"str required; received {type(value).__name__}")
        if value != value.upper():
            ctx.add("test.upper", "lower-case letters were upper-cased", action="sanitize")
        return value.upper()


@ks.register_stage("tests")
class NoBang(ks.Validator):
    """Rejects strings with '!'."""

    modality = "text"

    def check(self, value: Any, ctx: Context) -> None:
        if isinstance(value, str) and "!" in value:
            ctx.add("test.bang", "'!' is not allowed", span=(value.index("!"), value.index("!") + 1))


@ks.register_stage("tests")
class Crashes(ks.Validator):
    """A buggy stage: raises a plain exception."""

    def check(self, value: Any, ctx: Context) -> None:
        raise KeyError("boom")


# -- errors -------------------------------------------------------------------


def test_error_hierarchy_subclasses_builtins() -> None:
    for cls in (ks.ConfigError, ks.InputRejected, ks.OutputRejected, ks.ArtifactError):
        assert issubclass(cls, ks.SanitizeError)
        assert issubclass(cls, ValueError)
    assert issubclass(ks.SanitizeError, Exception)


def test_input_rejected_carries_report_and_pickles() -> None:
    pipe = ks.Pipeline([NoBang()])
    with pytest.raises(ks.InputRejected) as info:
        pipe("hi!")
    assert info.value.report is not None and info.value.report.codes == ("test.bang",)
    assert "test.bang" in str(info.value)
    again = pickle.loads(pickle.dumps(info.value))
    assert again.report.codes == ("test.bang",)


# -- findings and reports ---------------------------------------------------------


def test_finding_and_report_are_json() -> None:
    report = ks.Pipeline([Upper(), NoBang()], fail_fast=False).run("hi!")
    data = json.loads(json.dumps(report.to_dict(include_value=True)))
    assert data["ok"] is False
    assert [f["code"] for f in data["findings"]] == ["test.upper", "test.bang"]
    bang = data["findings"][1]
    assert bang["span"] == [2, 3] and bang["stage"] == "no_bang" and bang["action"] == "reject"
    assert set(data["timings"]) == {"upper", "no_bang"}


def test_echo_escapes_invisible_characters() -> None:
    from keras_sanitize.findings import echo

    shown = echo("evil\u202etxt.exe")
    assert "\u202e" not in shown and "\\u202e" in shown
    assert len(echo("x" * 10_000)) < 200


def test_jsonable_detail_handles_odd_values() -> None:
    f = ks.Finding("a.b", "m", detail={"n": np.float32(1.5), "big": 2**80, "nan": float("nan"), "b": b"\x00"})
    json.dumps(f.to_dict())


# -- pipelines -------------------------------------------------------------------


def test_sanitize_finding_keeps_value_going() -> None:
    report = ks.Pipeline([Upper()]).run("abc")
    assert report.ok and report.value == "ABC" and report.codes == ("test.upper",)


def test_fail_fast_stops_at_first_reject() -> None:
    pipe = ks.Pipeline([NoBang(), Upper()])
    report = pipe.run("a!")
    assert not report.ok and report.codes == ("test.bang",) and report.value is None
    report_all = ks.Pipeline([NoBang(), Upper()], fail_fast=False).run("a!")
    assert report_all.codes == ("test.bang", "test.upper")


def test_monitor_mode_downgrades_rejects_but_keeps_findings() -> None:
    pipe = ks.Pipeline([NoBang(), Upper()], mode="monitor")
    report = pipe.run("a!")
    assert report.ok and report.value == "A!"
    assert report.findings[0].action is ks.Action.WARN
    assert report.findings[0].detail["monitor"] == "would reject"


def test_monitor_mode_keeps_fatal_rejects() -> None:
    report = ks.Pipeline([Upper()], mode="monitor").run(42)
    assert not report.ok and report.findings[0].fatal


def test_policy_overrides_stage_default_and_outer_wins() -> None:
    inner = ks.Pipeline([NoBang(policy={"test.bang": "warn"})])
    assert inner.run("!").ok
    outer = ks.Pipeline([inner], policy={"test": "reject"})
    assert not outer.run("!").ok
    star = ks.Pipeline([NoBang()], policy={"*": "warn"})
    assert star.run("!").ok


def test_nested_pipeline_shares_findings_and_halts() -> None:
    inner = ks.Pipeline([Upper()], name="inner")
    outer = ks.Pipeline([inner, NoBang()])
    assert outer.run("ab").value == "AB"
    bad = outer.run(3)
    assert not bad.ok and bad.codes == ("test.not_str",)


def test_run_batch_gives_per_item_verdicts() -> None:
    reports = ks.Pipeline([NoBang()]).run_batch(["a", "b!", "c"])
    assert [r.ok for r in reports] == [True, False, True]
    assert [r.index for r in reports] == [0, 1, 2]
    assert reports[1].findings[0].index == 1


def test_run_batch_on_non_iterable_reports() -> None:
    reports = ks.Pipeline([NoBang()]).run_batch(5)  # type: ignore[arg-type]
    assert len(reports) == 1 and reports[0].codes == ("core.not_iterable",)


def test_buggy_stage_fails_closed() -> None:
    report = ks.Pipeline([Crashes()]).run("x")
    assert not report.ok and report.codes == ("core.internal_error",)
    assert "KeyError" in report.findings[0].message


def test_pipeline_is_thread_safe() -> None:
    pipe = ks.Pipeline([Upper(), NoBang()])
    errors: list[str] = []

    def work(i: int) -> None:
        for j in range(200):
            text = f"x{i}-{j}" + ("!" if j % 3 == 0 else "")
            r = pipe.run(text)
            if r.ok == text.endswith("!") or (r.ok and r.value != text.upper()):
                errors.append(text)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# -- configuration ----------------------------------------------------------------


def test_pipeline_config_round_trips_through_json() -> None:
    pipe = ks.Pipeline([Upper(), ks.Pipeline([NoBang()], mode="monitor")], modality="text", fail_fast=False)
    cfg = json.loads(json.dumps(pipe.get_config()))
    again = ks.Pipeline.from_config(cfg)
    assert again.get_config() == cfg
    assert again.run("a!").value == "A!"


def test_config_errors_name_the_argument() -> None:
    with pytest.raises(ks.ConfigError, match="mode"):
        ks.Pipeline([], mode="shadow")
    with pytest.raises(ks.ConfigError, match="stages\\[0\\]"):
        ks.Pipeline(["nope"])  # type: ignore[list-item]
    with pytest.raises(ks.ConfigError, match="policy"):
        NoBang(policy={"test.bang": "explode"})
    with pytest.raises(ks.ConfigError, match="max_elements"):
        ks.tensor.validators.SizeBudget(max_elements=-1)
    with pytest.raises(ks.ConfigError, match="unknown stage"):
        ks.deserialize_stage({"class_name": "NoSuchStage", "config": {}})


def test_deserialize_never_imports_unregistered_modules(tmp_path: Any, monkeypatch: Any) -> None:
    marker = tmp_path / "ran"
    evil = tmp_path / "evil_mod.py"
    evil.write_text(f"open({str(marker)!r}, 'w').write('x')\nclass Evil: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ks.ConfigError):
        ks.deserialize_stage({"module": "evil_mod", "class_name": "Evil", "registered_name": "evil>Evil"})
    assert not marker.exists()


def test_from_file_toml_and_json(tmp_path: Any) -> None:
    toml = tmp_path / "policy.toml"
    toml.write_text(
        'modality = "text"\nmode = "enforce"\n\n[[stages]]\nclass_name = "NoBang"\n'
        '[stages.config]\npolicy = { "test.bang" = "warn" }\n'
    )
    pipe = ks.Pipeline.from_file(toml)
    assert pipe.run("!").ok and pipe.run("!").codes == ("test.bang",)
    js = tmp_path / "policy.json"
    js.write_text(json.dumps(pipe.get_config()))
    assert ks.Pipeline.from_file(js).get_config() == pipe.get_config()
    preset = tmp_path / "preset.toml"
    preset.write_text('preset = "tensor.default"\nmode = "monitor"\n[options]\nshape = [-1, 2]\n')
    p2 = ks.Pipeline.from_file(preset)
    assert p2.run([[1.0, float("nan")]]).ok  # monitor
    assert p2.run([[1.0, float("nan")]]).codes == ("tensor.non_finite",)
    bad = tmp_path / "bad.yaml"
    bad.write_text("x")
    with pytest.raises(ks.ConfigError):
        ks.Pipeline.from_file(bad)
    with pytest.raises(ks.ConfigError):
        ks.Pipeline.from_file(tmp_path / "missing.toml")


# -- validate() -----------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, 3, 2**200, object(), {"a": 1}, [[None]], b"\x00\x01\x02"])
def test_validate_refuses_unsupported_values_with_a_finding(value: Any) -> None:
    report = ks.validate(value)
    assert not report.ok and report.findings and report.findings[0].message


def test_validate_dispatches_arrays_to_tensor() -> None:
    assert ks.validate(np.zeros(3)).ok
    assert ks.validate(np.array([np.nan])).codes == ("tensor.non_finite",)
    assert ks.validate(np.zeros(3), pipeline=ks.Pipeline([NoBang()])).ok
    with pytest.raises(ks.ConfigError):
        ks.validate("x", modality="video")
    with pytest.raises(ks.ConfigError):
        ks.validate("x", pipeline="nope")  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(hostile_values())
def test_validate_never_raises(value: Any) -> None:
    result = ks.validate(value)
    # a list of str/bytes is a batch: one report per item
    reports = result if isinstance(result, list) else [result]
    for report in reports:
        assert isinstance(report, ks.Report)
        assert "core.internal_error" not in report.codes, str(report)
        json.dumps(report.to_dict())


def test_user_stage_passes_the_harness() -> None:
    from keras_sanitize.testing import check_stage

    check_stage(Upper(), ["abc", "ABC", ""], max_examples=40)
    check_stage(NoBang(), ["a!", "b"], max_examples=40)


def test_context_nested_shares_findings_and_propagates_rejection() -> None:
    class Refuse(ks.Validator):
        def check(self, value: Any, ctx: ks.Context) -> None:
            ctx.add("core.test_refuse", "refused for the test")

    sink: list[ks.Finding] = []
    outer = Refuse(name="outer").context(sink)
    inner = outer.nested(Refuse(name="inner"), policy={"core": ks.Action.WARN})
    start = outer.position
    Refuse(name="inner").process("x", inner)
    assert outer.position == start + 1
    assert sink[0].stage == "inner" and sink[0].action is ks.Action.WARN  # the policy won
    assert not outer.rejected
    inner2 = outer.nested(Refuse(name="inner2"))
    Refuse().process("x", inner2)
    assert inner2.rejected and outer.rejected
    outer.annotate(start, {"input": "a"})
    assert all(f.detail["input"] == "a" for f in outer.since(start))


def test_pipeline_modality_is_given_or_agreed_by_its_stages() -> None:
    assert ks.tensor.default().modality == "tensor"
    assert ks.Pipeline(ks.tensor.default().stages).modality == "tensor"
    assert ks.Pipeline(ks.tensor.default().stages).modality_name is None
    assert ks.Pipeline([]).modality == "any"
    assert ks.Pipeline([], modality="text").modality == "text"


def test_check_names_is_the_one_allowlist_check() -> None:
    from keras_sanitize.stage import check_names

    assert check_names("X", "formats", ["WAV", "wav", "flac"], case="lower") == ("flac", "wav")
    for bad in ("wav", b"wav", 3, [""], [None]):
        with pytest.raises(ks.ConfigError, match="formats"):
            check_names("X", "formats", bad)  # type: ignore[arg-type]
    with pytest.raises(ks.ConfigError, match="must be among"):
        check_names("X", "formats", ["mp4"], known={"wav"})
    # the modalities use it: the same message shape for the same mistake
    with pytest.raises(ks.ConfigError, match="formats must be a list of names"):
        ks.image.default(formats="image/png")
    with pytest.raises(ks.ConfigError, match="formats must be a list of names"):
        ks.audio.default(formats="wav")
