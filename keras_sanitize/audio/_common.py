"""Safe defaults and format detection shared by the audio stages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

from keras_sanitize.config import register_stage
from keras_sanitize.findings import echo
from keras_sanitize.sniff import LibmagicMissing, sniff_mime
from keras_sanitize.stage import Context, check_limits
from keras_sanitize.stage import check_names as _check_names

from ._header import HeaderError, HeaderInfo, container_of, parse_header, sf_info

T = TypeVar("T", bound=type)


def audio_stage(cls: T) -> T:
    """Register an audio stage as ``keras_sanitize>Audio<ClassName>``.

    The prefix keeps the registry unambiguous: ``Decode``, ``ToArray``,
    ``LowPass``... also exist in other modalities.
    """
    return register_stage(prefix="Audio")(cls)


#: formats accepted by default: the ones speech and audio models are usually fed.
DEFAULT_FORMATS: frozenset[str] = frozenset({"wav", "flac", "ogg"})
#: formats that can be allowed (``formats=``); each has its own header check or libsndfile's.
KNOWN_FORMATS: frozenset[str] = frozenset({"wav", "flac", "ogg", "mp3", "aiff"})
#: sample formats (libsndfile subtype names) accepted by default.
DEFAULT_CODECS: frozenset[str] = frozenset(
    {
        "PCM_U8",
        "PCM_S8",
        "PCM_16",
        "PCM_24",
        "PCM_32",
        "FLOAT",
        "DOUBLE",
        "ULAW",
        "ALAW",
        "VORBIS",
        "OPUS",
        "MPEG_LAYER_I",
        "MPEG_LAYER_II",
        "MPEG_LAYER_III",
    }
)
@dataclass(frozen=True)
class Limits:
    """The audio modality's resource limits; every one is overridable.

    Attributes:
        max_bytes: byte budget of one encoded input (64 MiB).
        max_seconds: longest accepted duration, in seconds (from the header, before decoding).
        max_channels: most channels accepted.
        min_rate, max_rate: accepted sample-rate range, in Hz.
        max_decode_seconds: decode time budget for long streams, in seconds.

    Example:
        >>> import keras_sanitize as ks
        >>> ks.audio.default(limits=ks.audio.Limits(max_seconds=10.0)).stages[2].max_seconds
        10.0
    """

    max_bytes: int = 64 << 20
    max_seconds: float = 60.0
    max_channels: int = 2
    min_rate: int = 8000
    max_rate: int = 192000
    max_decode_seconds: float = 5.0

    def __post_init__(self) -> None:
        check_limits(self)


#: the default limits of every audio stage and of :func:`~keras_sanitize.audio.default`.
DEFAULT_LIMITS = Limits()
DEFAULT_MAX_BYTES: int = DEFAULT_LIMITS.max_bytes
DEFAULT_MAX_SECONDS: float = DEFAULT_LIMITS.max_seconds
DEFAULT_MAX_CHANNELS: int = DEFAULT_LIMITS.max_channels
DEFAULT_MIN_RATE: int = DEFAULT_LIMITS.min_rate
DEFAULT_MAX_RATE: int = DEFAULT_LIMITS.max_rate

MIME_FORMATS: Mapping[str, str] = MappingProxyType({
    "audio/x-wav": "wav",
    "audio/wav": "wav",
    "audio/wave": "wav",
    "audio/vnd.wave": "wav",
    "audio/x-wave": "wav",
    "audio/flac": "flac",
    "audio/x-flac": "flac",
    "audio/ogg": "ogg",
    "application/ogg": "ogg",
    "audio/x-vorbis+ogg": "ogg",
    "audio/opus": "ogg",
    "audio/vorbis": "ogg",
    "audio/x-opus+ogg": "ogg",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/x-mpeg": "mp3",
    "audio/x-aiff": "aiff",
    "audio/aiff": "aiff",
})
FORMAT_MIMES: Mapping[str, str] = MappingProxyType({
    "wav": "audio/x-wav",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "aiff": "audio/x-aiff",
    "mp3": "audio/mpeg",
})
EXT_FORMATS: Mapping[str, str] = MappingProxyType({
    "wav": "wav",
    "wave": "wav",
    "flac": "flac",
    "ogg": "ogg",
    "oga": "ogg",
    "opus": "ogg",
    "mp3": "mp3",
    "aif": "aiff",
    "aiff": "aiff",
    "aifc": "aiff",
})


def detect_format(data: bytes) -> tuple[str | None, str]:
    """Return ``(format, mime)``: the audio format our parsers recognise, and the sniffed MIME.

    The signature checks recognise every allowed format in well under a
    microsecond; libmagic is consulted only for what they do not recognise.
    May raise :class:`keras_sanitize.sniff.LibmagicMissing`.
    """
    fmt = container_of(data)
    if fmt is not None:
        return fmt, FORMAT_MIMES[fmt]
    mime = sniff_mime(data)
    return MIME_FORMATS.get(mime), mime


def check_names(
    owner: str, name: str, values: Iterable[Any], known: frozenset[str] | None = None, upper: bool = False
) -> tuple[str, ...]:
    """Validate an allowlist of names (lower-cased, or upper-cased); returns a sorted tuple."""
    return _check_names(owner, name, values, known=known, case="upper" if upper else "lower")


def detected_format(ctx: Context, data: bytes) -> tuple[str | None, str]:
    """:func:`detect_format` once per input: later stages read what the first one found."""
    hit = ctx.recall("audio.format", data)
    if hit is None:
        try:
            hit = ctx.remember("audio.format", data, detect_format(data))
        except LibmagicMissing as exc:
            ctx.halt("audio.libmagic_missing", str(exc))
    fmt, mime = hit
    return fmt, mime


def read_header(data: bytes, formats: tuple[str, ...], ctx: Context) -> HeaderInfo:
    """Detect the format and parse its header; halt with a finding when either is unusable.

    The parsed header is handed on through ``ctx``: ``HeaderLimits`` parses it, ``Decode``
    reads it back for the same bytes.
    """
    fmt, _ = detected_format(ctx, data)
    if fmt is None or fmt not in formats:
        ctx.halt(
            "audio.format_not_allowed",
            f"audio format must be one of {list(formats)}; received {fmt or 'unknown'} bytes starting "
            f"{echo(data[:12])}",
        )
    known = ctx.recall("audio.header", data)
    if isinstance(known, HeaderInfo) and known.container == fmt:
        return known
    try:
        parsed = parse_header(data, fmt)
        info = parsed if parsed is not None else sf_info(data)
        ctx.remember("audio.header", data, info)
        return info
    except HeaderError as exc:
        ctx.halt("audio.bad_header", f"{fmt} header is malformed: {exc}. Re-encode the file.")
