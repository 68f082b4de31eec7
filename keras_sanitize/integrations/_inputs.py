"""The input guards of a wrapped model: one pipeline, or one per named/positional input."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from keras_sanitize.errors import ConfigError
from keras_sanitize.findings import Finding, Report, Severity, echo
from keras_sanitize.integrations._batch import Screened, assemble, check_stage_arg, screen, split_of
from keras_sanitize.integrations._strings import string_items, to_model
from keras_sanitize.stage import Stage

__all__ = ["SINGLE", "Inputs", "input_specs", "output_template", "string_ranks", "text_inputs"]

SINGLE = "\x00x"  # key of the one input of a single-input model


def _structure_error(expected: str, value: Any) -> Screened:
    finding = Finding(
        "core.input_structure",
        f"the model takes {expected}; received {echo(value)}. Pass the inputs in the model's structure.",
        Severity.HIGH,
        stage="wrap",
        fatal=True,
    )
    return Screened(None, [Report(False, None, (finding,), {}, None, None)], [None], "items")


class Inputs:
    """The input guards of a model: one pipeline, or one per named/positional input."""

    def __init__(
        self,
        guards: Stage | Mapping[str, Stage] | Sequence[Stage],
        split: str | None,
        string_ranks: Mapping[Any, int] | None = None,
    ) -> None:
        if isinstance(guards, Stage):
            self.kind = "single"
            self.guards: dict[Any, Stage] = {SINGLE: guards}
        elif isinstance(guards, Mapping):
            self.kind = "dict"
            self.guards = {str(k): check_stage_arg("wrap", f"inputs[{k!r}]", v) for k, v in guards.items()}
        elif isinstance(guards, Sequence) and not isinstance(guards, (str, bytes)):
            self.kind = "list"
            self.guards = {i: check_stage_arg("wrap", f"inputs[{i}]", v) for i, v in enumerate(guards)}
        else:
            raise ConfigError(
                f"wrap: inputs must be None, a pipeline, a dict of pipelines by input name, or a "
                f"list of pipelines. Received: inputs={guards!r:.120}"
            )
        if not self.guards:
            raise ConfigError("wrap: inputs must hold at least one pipeline")
        self.splits = {k: split_of(g, split) for k, g in self.guards.items()}
        # inputs the model takes as strings, by key, with their rank ((N,) -> 1, (N, 1) -> 2)
        self.string_ranks: dict[Any, int] = dict(string_ranks or {})

    def screen(self, x: Any, *, batch_of_one: bool = True) -> tuple[dict[Any, Screened], dict[Any, Any]]:
        """Screen every guarded input; also return the unguarded ones (passed through).

        With ``batch_of_one`` a lone raw item (one image's bytes) becomes a batch of
        one, since a model always takes a batch; ``generate`` keeps it single.
        """
        if self.kind == "single":
            split = self.splits[SINGLE]
            if (
                batch_of_one
                and split == "items"
                and not isinstance(x, (list, tuple, np.ndarray))
                and string_items(x) is None
            ):
                x = [x]
            return {SINGLE: screen(self.guards[SINGLE], x, split=split)}, {}
        if self.kind == "dict":
            if not isinstance(x, Mapping) or any(k not in x for k in self.guards):
                return {SINGLE: _structure_error(f"a dict with keys {list(self.guards)}", x)}, {}
            parts = dict(x)
        else:
            if not isinstance(x, (list, tuple)) or len(x) < len(self.guards):
                return {SINGLE: _structure_error(f"a list of {len(self.guards)} inputs", x)}, {}
            parts = dict(enumerate(x))
        screens = {k: screen(g, parts[k], split=self.splits[k], batched=True) for k, g in self.guards.items()}
        rest = {k: v for k, v in parts.items() if k not in self.guards}
        return screens, rest

    def assemble(self, x: Any, screens: dict[Any, Screened], rest: dict[Any, Any], keep: list[int]) -> Any:
        """The model's input built from the accepted items."""
        values = {k: assemble(s, keep, to_array=True) for k, s in screens.items()}
        for k, rank in self.string_ranks.items():
            if k in values:
                values[k] = _as_model_strings(values[k], rank)
        if self.kind == "single":
            return values[SINGLE]
        n = next(iter(screens.values())).n
        for k, v in rest.items():  # unguarded inputs: keep the same rows
            arr = v if isinstance(v, np.ndarray) else None
            values[k] = arr[keep] if arr is not None and n is not None and len(arr) == n else v
        if self.kind == "dict":
            return values
        out = [values[i] for i in range(len(values))]
        return tuple(out) if isinstance(x, tuple) else out


def _as_model_strings(value: Any, rank: int) -> Any:
    """Sanitized text in the form a string-input model takes (else unchanged)."""
    split = string_items(value)
    if split is not None:
        items = split[0]
    elif isinstance(value, (list, tuple)) and all(isinstance(v, (str, bytes)) for v in value):
        items = list(value)
    else:
        return value
    return to_model(items, rank)


def input_specs(model: Any) -> dict[Any, Any]:
    """The model's symbolic inputs keyed like :class:`Inputs` (``SINGLE``, name or position).

    Empty when the model has no input spec (not built, or not a Keras model).
    """
    struct = None
    for attr in ("_inputs_struct", "inputs"):
        try:
            struct = getattr(model, attr)
        except Exception:
            continue
        if struct is not None:
            break
    if isinstance(struct, Mapping):
        return {str(k): t for k, t in struct.items()}
    if isinstance(struct, (list, tuple)):
        if len(struct) == 1:
            return {SINGLE: struct[0]}
        return dict(enumerate(struct))
    return {} if struct is None else {SINGLE: struct}


def string_ranks(model: Any) -> dict[Any, int]:
    """Which inputs of ``model`` take strings, with their rank (``(N,)`` -> 1, ``(N, 1)`` -> 2)."""
    from keras_sanitize.integrations._strings import is_string_dtype

    out: dict[Any, int] = {}
    for key, tensor in input_specs(model).items():
        shape = getattr(tensor, "shape", None)
        if is_string_dtype(getattr(tensor, "dtype", None)) and shape is not None:
            out[key] = len(shape)
    return out


def output_template(model: Any) -> Any:
    """Zero arrays shaped like one row of each model output (for all-refused batches)."""
    try:
        outputs = model.outputs
    except Exception:
        return None
    if not outputs:
        return None

    def one(t: Any) -> np.ndarray:
        shape = tuple(1 if d is None else int(d) for d in t.shape)
        return np.zeros((1, *shape[1:]), dtype=str(t.dtype))

    try:
        return one(outputs[0]) if len(outputs) == 1 else [one(t) for t in outputs]
    except Exception:
        return None


def text_inputs() -> Inputs:
    import importlib

    try:
        text = importlib.import_module("keras_sanitize.text")
    except ImportError as exc:  # the text modality is missing
        raise ConfigError(f"wrap: generate() needs inputs= (a text pipeline): {exc}") from None
    return Inputs(text.default(), None)
