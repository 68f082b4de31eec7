"""Pipelines (``keras_sanitize/pipeline.py``): actions, modes, policy, nesting, batches, failing closed."""

from __future__ import annotations

import threading

from _core_helpers import Crashes, NoBang, Upper

import keras_sanitize as ks


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


def test_pipeline_modality_is_given_or_agreed_by_its_stages() -> None:
    assert ks.tensor.default().modality == "tensor"
    assert ks.Pipeline(ks.tensor.default().stages).modality == "tensor"
    assert ks.Pipeline(ks.tensor.default().stages).modality_name is None
    assert ks.Pipeline([]).modality == "any"
    assert ks.Pipeline([], modality="text").modality == "text"
