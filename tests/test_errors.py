"""The one errors module: every exception class of the library lives in ``keras_sanitize/errors.py``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import keras_sanitize
from keras_sanitize import errors

#: exceptions allowed elsewhere, with the reason
_ALLOWED = {
    # argparse-style usage signal inside the CLI; main() turns it into exit code 2
    "keras_sanitize.cli._UsageError",
    # control-flow signals inside the sandbox and the server: each is caught in its own package and
    # turned into a finding (a refused report, a 4xx body); none reaches a caller
    "keras_sanitize.sandbox._codec.ProtocolError",
    "keras_sanitize.sandbox._codec.Unsupported",
    "keras_sanitize.sandbox._model._ModelFailure",
    "keras_sanitize.sandbox._process.Died",
    "keras_sanitize.sandbox._process.StartFailed",
    "keras_sanitize.sandbox._tasks._NoSpace",
    "keras_sanitize.serve._app._Refusal",
    "keras_sanitize.serve._protocol.ProtocolError",
}


def test_every_exception_class_is_defined_in_errors() -> None:
    stray = []
    for info in pkgutil.walk_packages(keras_sanitize.__path__, "keras_sanitize.", onerror=lambda _: None):
        if info.name.endswith("__main__") or info.name == "keras_sanitize.errors":
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional extra that is not installed
            continue
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__ == module.__name__
                and f"{module.__name__}.{name}" not in _ALLOWED
            ):
                stray.append(f"{module.__name__}.{name}")
    assert not stray, f"define these in keras_sanitize/errors.py: {stray}"


def test_every_error_is_a_sanitize_error_and_a_builtin() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.SanitizeError), name
        if cls not in (errors.SanitizeError, errors.Halt):
            assert any(b.__module__ == "builtins" and b is not Exception for b in cls.__mro__[1:]), name


def test_old_import_paths_keep_working() -> None:
    from keras_sanitize.audio._header import HeaderError
    from keras_sanitize.sniff import LibmagicMissing
    from keras_sanitize.stage import Halt

    assert (Halt, LibmagicMissing, HeaderError) == (errors.Halt, errors.LibmagicMissing, errors.HeaderError)
    assert issubclass(LibmagicMissing, RuntimeError)
    assert issubclass(HeaderError, ValueError)
