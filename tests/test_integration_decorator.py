"""@ks.sanitize: per-item verdicts, raise/skip, aligned outputs, sync/async, functions/methods."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import keras_sanitize as ks
from keras_sanitize.fuzzing.strategies import hostile_values


@ks.register_stage("test_integration")
class NoDigits(ks.Validator):
    """Refuses str items holding a digit; refuses non-str items (fatal)."""

    def check(self, value: Any, ctx: ks.Context) -> None:
        if not isinstance(value, str):
            ctx.halt("text.not_text", f"a str is required; received {type(value).__name__}")
        if any(c.isdigit() for c in value):
            ctx.add("text.digits", f"digits are not allowed; received {value!r}")


@ks.register_stage("test_integration")
class Upper(ks.Filter):
    def process(self, value: Any, ctx: ks.Context) -> Any:
        if not isinstance(value, str):
            ctx.halt("text.not_text", f"a str is required; received {type(value).__name__}")
        if value != value.upper():
            ctx.add("text.lowercase", "lower case changed to upper case", action="sanitize")
        return value.upper()


TEXT = ks.Pipeline([NoDigits(), Upper()], modality="text")
ROWS = ks.tensor.default(shape=(None, 2))


def test_single_item_gets_sanitized_value_and_refusal_raises_with_report() -> None:
    seen: list[Any] = []

    @ks.sanitize(TEXT)
    def predict(text: str) -> int:
        seen.append(text)
        return len(text)

    assert predict("hello") == 5 and seen == ["HELLO"]
    with pytest.raises(ks.InputRejected) as info:
        predict("call 911")
    assert info.value.report is not None and info.value.report.codes == ("text.digits",)
    assert len(info.value.reports) == 1
    assert "digits are not allowed" in str(info.value)
    assert seen == ["HELLO"]  # the function never saw the refused input


def test_batch_skip_returns_outputs_aligned_with_none_for_refused_items() -> None:
    calls: list[list[str]] = []

    @ks.sanitize(text=TEXT, on_reject="skip", return_reports=True)
    def classify(text: list[str]) -> list[int]:
        calls.append(text)
        return [len(t) for t in text]

    out, reports = classify(["ab", "x1", "cde"])
    assert out == [2, None, 3]
    assert calls == [["AB", "CDE"]]
    assert [r.ok for r in reports] == [True, False, True]
    assert [r.index for r in reports] == [0, 1, 2]
    assert reports[1].codes == ("text.digits",) and reports[1].findings[0].index == 1
    assert reports[0].codes == ("text.lowercase",)


def test_batch_raise_carries_every_items_report() -> None:
    @ks.sanitize(text=TEXT)
    def classify(text: list[str]) -> list[int]:
        raise AssertionError("must not be called")

    with pytest.raises(ks.InputRejected) as info:
        classify(("ok", "bad 1", "bad 2"))
    exc = info.value
    assert [r.ok for r in exc.reports] == [True, False, False]
    assert exc.report is exc.reports[1]
    assert str(exc).startswith("2 of 3 items refused; first (item 1)")
    assert isinstance(exc, ValueError)


def test_tuple_in_tuple_out_and_all_refused_skips_the_call() -> None:
    called = []

    @ks.sanitize(TEXT, on_reject="skip")
    def echo(items: Any) -> Any:
        called.append(items)
        return items

    assert echo(("a", "b")) == ("A", "B")
    assert echo(["1", "2"]) == [None, None]
    assert echo("3") is None
    assert len(called) == 1


def test_tensor_rows_nan_row_is_refused_and_output_row_is_nan() -> None:
    x = np.array([[1.0, 2.0], [np.nan, 0.0], [3.0, 4.0]])

    @ks.sanitize(x=ROWS, on_reject="skip", return_reports=True)
    def total(x: np.ndarray) -> np.ndarray:
        assert x.shape == (2, 2)
        return x.sum(axis=1)

    out, reports = total(x)
    np.testing.assert_array_equal(out, [3.0, np.nan, 7.0])
    assert [r.ok for r in reports] == [True, False, True]
    assert reports[1].codes == ("tensor.non_finite",)


def test_integer_outputs_become_float_with_nan_rows() -> None:
    @ks.sanitize(ROWS, on_reject="skip")
    def argmax(x: np.ndarray) -> np.ndarray:
        return x.argmax(axis=1)

    out = argmax(np.array([[1.0, 2.0], [np.inf, 0.0]]))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [1.0, np.nan])


def test_fast_path_and_per_row_findings_point_at_the_right_item() -> None:
    pipe = ks.Pipeline([ks.tensor.encoders.ToArray(), ks.tensor.filters.Clip(0.0, 1.0)], modality="tensor")

    @ks.sanitize(pipe, return_reports=True)
    def ident(x: np.ndarray) -> np.ndarray:
        return x

    clean = np.array([[0.1, 0.2], [0.3, 0.4]])
    out, reports = ident(clean)
    assert out is clean and all(r.ok and not r.findings for r in reports)
    out, reports = ident(np.array([[0.1, 0.2], [0.3, 7.0]]))
    np.testing.assert_array_equal(out, [[0.1, 0.2], [0.3, 1.0]])
    assert reports[0].findings == () and reports[1].codes == ("tensor.clipped",)
    assert reports[1].findings[0].index == 1


def test_a_rule_only_the_whole_batch_breaks_refuses_every_row() -> None:
    budget = ks.Pipeline(
        [ks.tensor.encoders.ToArray(), ks.tensor.validators.SizeBudget(max_elements=4)], modality="tensor"
    )

    @ks.sanitize(budget, on_reject="skip", return_reports=True)
    def f(x: np.ndarray) -> np.ndarray:
        return x

    out, reports = f(np.zeros((3, 2)))  # 6 elements > 4, each row (2) is fine
    assert not any(r.ok for r in reports)
    assert all(r.codes == ("tensor.too_many_elements",) for r in reports)
    assert out == [None] * 3  # nothing reached the function: no output to shape NaN rows from


def test_several_arguments_item_refused_anywhere_is_dropped_everywhere() -> None:
    @ks.sanitize(text=TEXT, x=ROWS, on_reject="skip", return_reports=True)
    def f(text: list[str], x: np.ndarray, scale: float = 1.0) -> list[str]:
        return [f"{t}:{row.sum() * scale:g}" for t, row in zip(text, x)]

    out, reports = f(["a", "b2", "c"], np.array([[1.0, 1.0], [2.0, 2.0], [np.nan, 3.0]]), scale=2)
    assert out == ["A:4", None, None]
    assert reports[1].rejections[0].detail["input"] == "text"
    assert reports[2].rejections[0].detail["input"] == "x"
    out, reports = f(["a"], np.zeros((2, 2)))
    assert out is None and reports[0].codes == ("core.batch_mismatch",)
    strict = ks.sanitize(text=TEXT, x=ROWS)(f.__wrapped__)  # type: ignore[attr-defined]
    with pytest.raises(ks.InputRejected) as info:
        strict(["a"], np.zeros((2, 2)))
    assert info.value.report is not None and info.value.report.codes == ("core.batch_mismatch",)


def test_keyword_arguments_defaults_and_var_kwargs() -> None:
    @ks.sanitize(text=TEXT, extra=TEXT)
    def f(text: str = "default 1", **kwargs: Any) -> tuple[str, Any]:
        return text, kwargs.get("extra")

    assert f() == ("default 1", None)  # the programmer's default is trusted
    assert f(text="x", extra="y") == ("X", "Y")
    with pytest.raises(ks.InputRejected):
        f(extra="7")


def test_keeps_name_docstring_and_signature() -> None:
    def predict(text: str, top_k: int = 3) -> list[str]:
        """Predict things."""
        return [text] * top_k

    guarded = ks.sanitize(TEXT)(predict)
    assert guarded.__name__ == "predict" and guarded.__doc__ == "Predict things."
    assert inspect.signature(guarded) == inspect.signature(predict)
    assert guarded.__wrapped__ is predict  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        guarded("a", 1, 2, 3)  # the function's own TypeError for bad calls


def test_async_functions() -> None:
    @ks.sanitize(TEXT, on_reject="skip", return_reports=True)
    async def predict(texts: list[str]) -> list[str]:
        await asyncio.sleep(0)
        return [t + "!" for t in texts]

    assert inspect.iscoroutinefunction(predict)
    out, reports = asyncio.run(predict(["a", "1"]))
    assert out == ["A!", None] and [r.ok for r in reports] == [True, False]

    @ks.sanitize(TEXT)
    async def strict(text: str) -> str:
        return text

    with pytest.raises(ks.InputRejected):
        asyncio.run(strict("9"))


def test_methods_classmethods_and_staticmethods() -> None:
    class Model:
        factor = 2

        @ks.sanitize(TEXT)
        def predict(self, text: str) -> str:
            return text * self.factor

        @classmethod
        @ks.sanitize(TEXT)
        def cls_predict(cls, text: str) -> str:
            return text * cls.factor

        @ks.sanitize(TEXT)  # applied over the classmethod object
        @classmethod
        def cls_predict2(cls, text: str) -> str:
            return text

        @staticmethod
        @ks.sanitize(TEXT)
        def static_predict(text: str) -> str:
            return text

        @ks.sanitize(TEXT)
        async def apredict(self, text: str) -> str:
            return text

    m = Model()
    assert m.predict("ab") == "ABAB"
    assert Model.cls_predict("a") == "AA" and Model.cls_predict2("q") == "Q"
    assert Model.static_predict("z") == "Z"
    assert asyncio.run(m.apredict("c")) == "C"
    with pytest.raises(ks.InputRejected):
        m.predict("1")


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: ks.sanitize(TEXT, on_reject="drop"), "on_reject"),
        (lambda: ks.sanitize(text="not a stage"), "must be a keras_sanitize Stage"),
        (ks.sanitize, "give a pipeline"),
        (lambda: ks.sanitize(TEXT, return_reports="yes"), "return_reports"),
        (lambda: ks.sanitize(TEXT, split="cols"), "split"),
        (lambda: ks.sanitize(nope=TEXT)(lambda text: text), "no argument 'nope'"),
        (lambda: ks.sanitize(TEXT)(lambda: 1), "no positional argument"),
    ],
)
def test_bad_arguments_are_config_errors(make: Any, match: str) -> None:
    with pytest.raises(ks.ConfigError, match=match):
        make()


def test_inputs_mapping_for_names_that_clash_with_options() -> None:
    @ks.sanitize(inputs={"batched": TEXT}, on_reject="skip")
    def f(batched: list[str]) -> list[str]:
        return batched

    assert f(["a", "1"]) == ["A", None]


def test_batched_false_treats_an_array_as_one_item() -> None:
    shape_pipe = ks.tensor.default(shape=(2, 2))

    @ks.sanitize(shape_pipe, split="items", batched=False, return_reports=True)
    def f(x: np.ndarray) -> float:
        return float(x.sum())

    out, reports = f(np.ones((2, 2)))
    assert out == 4.0 and len(reports) == 1


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(hostile_values())
def test_hostile_values_only_ever_raise_sanitize_errors(value: Any) -> None:
    @ks.sanitize(TEXT, on_reject="skip")
    def f(x: Any) -> Any:
        return x

    @ks.sanitize(ROWS)
    def g(x: Any) -> Any:
        return x

    f(value)
    with contextlib.suppress(ks.SanitizeError):
        g(value)


def test_concurrent_calls_do_not_mix_items() -> None:
    @ks.sanitize(TEXT, on_reject="skip", return_reports=True)
    def f(texts: list[str]) -> list[str]:
        return [f"{threading.get_ident()}:{t}" for t in texts]

    def job(i: int) -> None:
        batch = [f"a{'x' * i}", f"b{i}", f"c{'y' * i}"]
        out, reports = f(batch)
        assert out[0].endswith(batch[0].upper()) and out[1] is None and out[2].endswith(batch[2].upper())
        assert [r.ok for r in reports] == [True, False, True]

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(job, range(40)))


def test_rows_that_pass_alone_must_also_pass_together() -> None:
    budget = ks.Pipeline(
        [ks.tensor.encoders.ToArray(), ks.tensor.validators.TensorSpec(shape=(None, 2), max_elements=4)],
        modality="tensor",
    )

    @ks.sanitize(budget, on_reject="skip", return_reports=True)
    def f(x: Any) -> Any:
        return x

    # 4 rows = 8 elements > 4; row 1 is bad on its own; rows 0, 2, 3 = 6 elements, still > 4
    out, reports = f([[1.0, 2.0], [np.nan, 1.0], [3.0, 4.0], [5.0, 6.0]])
    assert not any(r.ok for r in reports)
    assert reports[1].codes == ("tensor.non_finite",)
    assert reports[0].codes == ("tensor.too_many_elements",)
    # 3 rows = 6 elements > 4; row 1 bad; rows 0 and 2 = 4 elements: they go through
    out, reports = f([[1.0, 2.0], [np.nan, 1.0], [3.0, 4.0]])
    assert [r.ok for r in reports] == [True, False, True]
    np.testing.assert_array_equal(out[[0, 2]], [[1.0, 2.0], [3.0, 4.0]])
