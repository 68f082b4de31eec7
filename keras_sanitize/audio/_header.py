"""Header parsers for WAV (RIFF/RIFX/RF64), FLAC, Ogg (Vorbis/Opus) and AIFF.

These read only the few bytes that describe the stream (rate, channels, sample
format, declared length) so that limits can be enforced *before* libsndfile
sees the bytes. They never allocate anything proportional to a declared size,
loop a bounded number of times, and raise
:class:`~keras_sanitize.errors.HeaderError` (the stages turn it into findings) on
anything they cannot make sense of.
"""

from __future__ import annotations

import io
import math
import re
import struct
from dataclasses import dataclass

from keras_sanitize.errors import HeaderError

__all__ = ["HeaderError", "HeaderInfo", "clean_error", "container_of", "parse_header"]

_OBJECT_RE = re.compile(r"Error opening <[^>]*>: |<_io\.[A-Za-z]+ object at 0x[0-9a-f]+>")


def clean_error(exc: BaseException) -> str:
    """libsndfile's message without the ``<_io.BytesIO object at 0x...>`` noise, bounded."""
    text = _OBJECT_RE.sub("", str(exc))[:160].strip().rstrip(".")
    return text + "."


#: the most chunks/metadata blocks a parser walks before giving up.
_MAX_CHUNKS = 512
#: an Ogg page is at most 27 + 255 + 255 * 255 bytes.
_OGG_MAX_PAGE = 65307


@dataclass(frozen=True)
class HeaderInfo:
    """What a header declares.

    Attributes:
        container: ``"wav"``, ``"flac"``, ``"ogg"``, ``"aiff"``, ``"mp3"``...
        codec: libsndfile's subtype name (``"PCM_16"``, ``"FLOAT"``, ``"VORBIS"``...)
            or ``"WAV_FORMAT_0x0055"``-style names for codecs it does not know.
        rate: declared sample rate in Hz (the rate the decoder will produce).
        channels: declared channel count.
        frames: declared number of frames (samples per channel), ``None`` if unknown.
        data_bytes: declared size of the sample payload, when the format has one.
        available_bytes: bytes actually present for the payload.
        min_bytes: the fewest payload bytes the declared frames can take
            (exact for PCM, a lower bound for compressed codecs).
    """

    container: str
    codec: str
    rate: float
    channels: int
    frames: int | None
    data_bytes: int | None = None
    available_bytes: int | None = None
    min_bytes: int | None = None

    @property
    def seconds(self) -> float | None:
        """Declared duration in seconds, ``None`` if unknown."""
        if self.frames is None or not self.rate > 0:
            return None
        return self.frames / self.rate


def _id3_end(data: bytes) -> int:
    """Offset just past a leading ID3v2 tag (0 when there is none)."""
    if len(data) >= 10 and data.startswith(b"ID3"):
        b = data[6:10]
        if all(x < 0x80 for x in b):
            size = (b[0] << 21) | (b[1] << 14) | (b[2] << 7) | b[3]
            footer = 10 if data[5] & 0x10 else 0
            return 10 + size + footer
    return 0


def container_of(data: bytes) -> str | None:
    """Recognise the container from its first bytes (Pillow's ``_accept`` idea).

    Example:
        >>> container_of(b"fLaC" + bytes(40)), container_of(b"hello")
        ('flac', None)
    """
    head = data[:12]
    if len(head) >= 12 and head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"OggS"):
        return "ogg"
    if len(head) >= 12 and head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    skip = _id3_end(data)
    if skip:
        rest = data[skip : skip + 4]
        if rest == b"fLaC":
            return "flac"
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] & 0x06):
        return "mp3"
    return None


def parse_header(data: bytes, container: str) -> HeaderInfo | None:
    """Parse the header of ``data`` as ``container``; ``None`` if we have no parser for it.

    Example:
        >>> import io, numpy as np, soundfile as sf
        >>> buf = io.BytesIO()
        >>> sf.write(buf, np.zeros(800, "float32"), 8000, format="WAV", subtype="PCM_16")
        >>> info = parse_header(buf.getvalue(), "wav")
        >>> info.codec, info.rate, info.channels, info.frames
        ('PCM_16', 8000.0, 1, 800)
    """
    try:
        if container == "wav":
            return _wav(data)
        if container == "flac":
            return _flac(data)
        if container == "ogg":
            return _ogg(data)
        if container == "aiff":
            return _aiff(data)
    except (struct.error, IndexError):
        # A field read past the end of the bytes: the header is cut short.
        raise HeaderError(f"{container} header is truncated ({len(data)} bytes in all)") from None
    return None


# -- WAV -----------------------------------------------------------------------

_WAV_CODECS = {3: "FLOAT", 6: "ALAW", 7: "ULAW", 2: "MS_ADPCM", 0x11: "IMA_ADPCM", 0x31: "GSM610"}


def _pcm_name(bits: int, *, unsigned8: bool) -> str:
    if bits <= 0:
        return "PCM_0"
    if bits <= 8:
        return "PCM_U8" if unsigned8 else "PCM_S8"
    for width in (16, 24, 32):
        if bits <= width:
            return f"PCM_{width}"
    return f"PCM_{bits}"


def _wav(data: bytes) -> HeaderInfo:
    magic = data[:4]
    endian = ">" if magic == b"RIFX" else "<"
    size = len(data)
    pos = 12
    fmt: tuple[int, int, int, int, int] | None = None
    ds64_data: int | None = None
    data_off = data_len = None
    for _ in range(_MAX_CHUNKS):
        if pos + 8 > size:
            break
        cid = data[pos : pos + 4]
        (clen,) = struct.unpack_from(endian + "I", data, pos + 4)
        body = pos + 8
        if cid == b"ds64" and magic == b"RF64":
            _, ds64_data = struct.unpack_from("<QQ", data, body)
        elif cid == b"fmt ":
            if clen < 16:
                raise HeaderError(f"wav fmt chunk is {clen} bytes; at least 16 are required")
            tag, channels, rate, _, align, bits = struct.unpack_from(endian + "HHIIHH", data, body)
            if tag == 0xFFFE and clen >= 40:
                (tag,) = struct.unpack_from(endian + "H", data, body + 24)
            fmt = (tag, channels, rate, align, bits)
        elif cid == b"data":
            data_off = body
            data_len = (
                ds64_data if (magic == b"RF64" and clen == 0xFFFFFFFF and ds64_data is not None) else clen
            )
            break
        pos = body + clen + (clen & 1)
    if fmt is None:
        raise HeaderError("wav has no 'fmt ' chunk before its sample data")
    if data_off is None or data_len is None:
        raise HeaderError("wav has no 'data' chunk")
    tag, channels, rate, align, bits = fmt
    if tag == 1:
        codec = _pcm_name(bits, unsigned8=True)
    elif tag == 3:
        codec = "DOUBLE" if bits == 64 else "FLOAT" if bits == 32 else f"FLOAT_{bits}"
    else:
        codec = _WAV_CODECS.get(tag, f"WAV_FORMAT_0x{tag:04x}")
    if align == 0:
        raise HeaderError(f"wav block_align is 0 ({channels} channels, {bits} bits)")
    frames = data_len // align
    available = max(size - data_off, 0)
    return HeaderInfo("wav", codec, float(rate), channels, frames, data_len, available, data_len)


# -- FLAC ----------------------------------------------------------------------


def _flac(data: bytes) -> HeaderInfo:
    start = _id3_end(data)
    if data[start : start + 4] != b"fLaC":
        raise HeaderError("flac stream does not start with 'fLaC'")
    pos = start + 4
    info: tuple[int, int, int, int, int, int] | None = None
    last = False
    for _ in range(_MAX_CHUNKS):
        if pos + 4 > len(data):
            raise HeaderError(f"flac metadata is truncated at byte {pos} of {len(data)}")
        kind = data[pos] & 0x7F
        last = bool(data[pos] & 0x80)
        length = int.from_bytes(data[pos + 1 : pos + 4], "big")
        body = pos + 4
        if body + length > len(data):
            raise HeaderError(
                f"flac metadata block declares {length} bytes at byte {body} of a {len(data)}-byte file"
            )
        if info is None:
            if kind != 0 or length < 34:
                raise HeaderError(
                    f"flac first metadata block must be a 34-byte STREAMINFO; got type {kind}, {length} bytes"
                )
            min_block, max_block = struct.unpack_from(">HH", data, body)
            (packed,) = struct.unpack_from(">Q", data, body + 10)
            rate = packed >> 44
            channels = ((packed >> 41) & 0x7) + 1
            bits = ((packed >> 36) & 0x1F) + 1
            total = packed & ((1 << 36) - 1)
            info = (min_block, max_block, rate, channels, bits, total)
        pos = body + length
        if last:
            break
    if info is None or not last:
        raise HeaderError("flac metadata never ends (no block flagged last)")
    min_block, max_block, rate, channels, bits, total = info
    if max_block < 16 or min_block > max_block:
        raise HeaderError(f"flac STREAMINFO block sizes are invalid (min {min_block}, max {max_block})")
    frames = total or None  # 0 means "unknown"
    available = len(data) - pos
    # Every FLAC frame takes at least a 6-byte header, one byte per subframe and a
    # 2-byte CRC, and holds at most max_block samples: a lower bound on the payload.
    min_bytes = None if frames is None else math.ceil(frames / max_block) * (8 + channels)
    return HeaderInfo(
        "flac", _pcm_name(bits, unsigned8=False), float(rate), channels, frames, None, available, min_bytes
    )


# -- Ogg -----------------------------------------------------------------------


def _ogg_page(data: bytes, pos: int) -> tuple[int, int, int]:
    """Return ``(granule, serial, body_offset)`` of the page at ``pos``."""
    if data[pos : pos + 4] != b"OggS":
        raise HeaderError(f"no Ogg page at byte {pos}")
    granule, serial = struct.unpack_from("<qI", data, pos + 6)
    nseg = data[pos + 26]
    return granule, serial, pos + 27 + nseg


def _ogg(data: bytes) -> HeaderInfo:
    _, serial, body = _ogg_page(data, 0)
    packet = data[body : body + 64]
    preskip = 0
    if packet.startswith(b"\x01vorbis"):
        channels = packet[11]
        (rate,) = struct.unpack_from("<I", packet, 12)
        codec, per_byte = "VORBIS", 4096 // 2
    elif packet.startswith(b"OpusHead"):
        channels = packet[9]
        preskip, input_rate = struct.unpack_from("<HI", packet, 10)
        # libsndfile decodes Opus at the original rate when Opus supports it, else at 48 kHz.
        rate = input_rate if input_rate in (8000, 12000, 16000, 24000) else 48000
        codec, per_byte = "OPUS", 5760 // 2
    else:
        name = packet[1:8] if packet[:1] in (b"\x01", b"\x7f", b"\x80") else packet[:8]
        codec = "OGG_" + "".join(chr(c) if 48 <= c < 123 and chr(c).isalnum() else "_" for c in name).upper()
        return HeaderInfo("ogg", codec, 0.0, 0, None)
    # The declared length is the granule position of this stream's last page.
    tail_start = max(0, len(data) - _OGG_MAX_PAGE)
    tail = data[tail_start:]
    frames: int | None = None
    at = tail.rfind(b"OggS")
    for _ in range(_MAX_CHUNKS):
        if at < 0:
            break
        if tail_start + at + 27 <= len(data):
            granule, page_serial, _ = _ogg_page(data, tail_start + at)
            if page_serial == serial and granule >= 0:
                frames = max(granule - preskip, 0)
                if codec == "OPUS":  # Opus granules count 48 kHz samples
                    frames = frames * rate // 48000
                break
        at = tail.rfind(b"OggS", 0, at)
    available = len(data) - body
    min_bytes = None if frames is None else frames // per_byte
    return HeaderInfo("ogg", codec, float(rate), channels, frames, None, available, min_bytes)


# -- AIFF ----------------------------------------------------------------------

_AIFC_CODECS = {
    b"NONE": None,
    b"twos": None,
    b"sowt": None,
    b"in24": "PCM_24",
    b"in32": "PCM_32",
    b"fl32": "FLOAT",
    b"FL32": "FLOAT",
    b"fl64": "DOUBLE",
    b"FL64": "DOUBLE",
    b"ulaw": "ULAW",
    b"ULAW": "ULAW",
    b"alaw": "ALAW",
    b"ALAW": "ALAW",
    b"raw ": "PCM_U8",
}


def _extended(raw: bytes) -> float:
    """Decode an 80-bit IEEE extended float (AIFF's sample rate)."""
    exp = ((raw[0] & 0x7F) << 8) | raw[1]
    mant = int.from_bytes(raw[2:10], "big")
    if exp == 0 and mant == 0:
        return 0.0
    if exp == 0x7FFF or exp - 16383 > 64:
        return math.inf
    value = math.ldexp(mant, exp - 16383 - 63)
    return -value if raw[0] & 0x80 else value


def _aiff(data: bytes) -> HeaderInfo:
    aifc = data[8:12] == b"AIFC"
    pos = 12
    comm: tuple[int, int, int, float, str | None] | None = None
    ssnd: tuple[int, int] | None = None
    for _ in range(_MAX_CHUNKS):
        if pos + 8 > len(data):
            break
        cid = data[pos : pos + 4]
        (clen,) = struct.unpack_from(">I", data, pos + 4)
        body = pos + 8
        if cid == b"COMM":
            channels, frames, bits = struct.unpack_from(">hIh", data, body)
            rate = _extended(data[body + 8 : body + 18])
            if len(data) < body + 18:
                raise HeaderError("aiff COMM chunk is truncated")
            kind: str | None = None
            if aifc and clen >= 22:
                comp = data[body + 18 : body + 22]
                kind = _AIFC_CODECS.get(comp, "AIFC_" + comp.decode("latin-1").strip().upper())
            comm = (channels, frames, bits, rate, kind)
        elif cid == b"SSND":
            (offset,) = struct.unpack_from(">I", data, body)
            ssnd = (body + 8 + offset, clen - 8 - offset)
        pos = body + clen + (clen & 1)
    if comm is None:
        raise HeaderError("aiff has no COMM chunk")
    channels, frames, bits, rate, kind = comm
    codec = kind or _pcm_name(bits, unsigned8=False)
    if ssnd is None:
        if frames:
            raise HeaderError(f"aiff declares {frames} frames but has no SSND chunk")
        return HeaderInfo("aiff", codec, rate, channels, 0, 0, 0, 0)
    data_off, data_len = ssnd
    width = {
        "PCM_S8": 1,
        "PCM_U8": 1,
        "PCM_16": 2,
        "PCM_24": 3,
        "PCM_32": 4,
        "FLOAT": 4,
        "DOUBLE": 8,
        "ULAW": 1,
        "ALAW": 1,
    }.get(codec)
    need = frames * max(channels, 0) * width if width else None
    available = max(len(data) - data_off, 0)
    return HeaderInfo("aiff", codec, rate, channels, frames, max(data_len, 0), available, need)


def sf_info(data: bytes) -> HeaderInfo:
    """Header facts as libsndfile reports them (formats we do not parse ourselves, e.g. MP3).

    libsndfile's ``info`` reads the header only; it allocates no samples.
    """
    import soundfile as sf

    try:
        info = sf.info(io.BytesIO(data))
    except Exception as exc:  # any libsndfile error is a bad header
        raise HeaderError(f"libsndfile cannot read the header: {clean_error(exc)}") from None
    frames = int(info.frames) if 0 <= info.frames < (1 << 62) else None
    return HeaderInfo(
        str(info.format).lower(), str(info.subtype), float(info.samplerate), int(info.channels), frames
    )
