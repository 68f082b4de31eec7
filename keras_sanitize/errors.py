"""The one errors module of keras_sanitize.

Every exception the library raises on purpose derives from :class:`SanitizeError`,
and each class also subclasses the built-in that fits it, so callers may catch
either::

    Exception
     └── SanitizeError
          ├── ConfigError(ValueError)       a bad argument, raised at construction
          ├── InputRejected(ValueError)     an input was refused; carries ``.report``
          ├── OutputRejected(ValueError)    a model output was refused; carries ``.report``
          ├── ArtifactError(ValueError)     hash mismatch or unsafe model file; ``.report``
          ├── LibmagicMissing(RuntimeError) the system library behind type sniffing is absent
          ├── Halt                          internal: a stage stopped the input (ctx.halt);
          │                                 the pipeline turns it into a finding
          └── HeaderError(ValueError)       internal: a media header could not be parsed;
                                            the stage reading it turns it into a finding

Nothing else escapes the library on bad *input*; ``Halt`` and ``HeaderError`` never
reach a caller at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keras_sanitize.findings import Report

__all__ = [
    "ArtifactError",
    "ConfigError",
    "Halt",
    "HeaderError",
    "InputRejected",
    "LibmagicMissing",
    "OutputRejected",
    "SanitizeError",
]


class SanitizeError(Exception):
    """Base class of every error keras_sanitize raises on purpose.

    Example:
        >>> try:
        ...     raise ConfigError("max_chars must be >= 0. Received: max_chars=-1")
        ... except SanitizeError as exc:
        ...     print(type(exc).__name__)
        ConfigError
    """


class ConfigError(SanitizeError, ValueError):
    """A programmer passed a bad argument (unknown stage, negative limit, ...).

    Raised at construction time, never at call time on user input.
    """


class _ReportError(SanitizeError, ValueError):
    """An error that carries the :class:`~keras_sanitize.Report` that caused it."""

    def __init__(self, message: str, report: Report | None = None) -> None:
        super().__init__(message)
        self.report = report

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.args[0] if self.args else "", self.report))


class InputRejected(_ReportError):
    """An input was refused by a pipeline. ``.report`` says which rule and why.

    For a batch, ``.reports`` holds one report per item (``.report`` is the first
    refused one).
    """

    def __init__(
        self,
        message: str,
        report: Report | None = None,
        reports: list[Report] | None = None,
    ) -> None:
        super().__init__(message, report)
        self.reports = reports if reports is not None else ([report] if report else [])

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.args[0] if self.args else "", self.report, self.reports))


class OutputRejected(_ReportError):
    """A model output was refused by an output pipeline; ``.report`` says why."""


class ArtifactError(_ReportError):
    """A model artifact failed verification (hash mismatch) or scanning (unsafe file)."""


class LibmagicMissing(SanitizeError, RuntimeError):
    """libmagic (the system library behind python-magic) is not installed.

    Stages that sniff bytes turn it into a ``*.libmagic_missing`` finding.
    """


class Halt(SanitizeError):
    """Raised inside a stage (via :meth:`~keras_sanitize.Context.halt`) when the input cannot go on.

    The pipeline catches it; it never reaches the caller.
    """


class HeaderError(SanitizeError, ValueError):
    """A media header could not be parsed (truncated, inconsistent, unsupported).

    Raised by the header parsers; the stage calling them reports a finding instead.
    """
