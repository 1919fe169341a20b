"""Real media for the mock upstreams: generated PNGs, a committed MP4 and its previews, sniffing.

`png()` draws a deterministic pattern (bands of stripes, gradients or checks plus one shape)
chosen by the prompt. Rows are run-length segment lists, so a row is encoded with the PNG
"Sub" filter straight from its segments (mostly zero bytes) and a repeated row with "Up"
(all zeros): no per-pixel Python loop, and zlib's RLE strategy compresses it in a few ms.
`image_info`, `decode_data_url` and `guess_kind` read what a client sent, without network.
"""

from __future__ import annotations

import base64
import binascii
import colorsys
import functools
import hashlib
import math
import re
import struct
import zlib
from importlib import resources
from urllib.parse import unquote_to_bytes, urlsplit

MAX_SIDE = 4096  # generated images; the largest documented size is 1792 (dall-e-3)

MP4_MIME = "video/mp4"
THUMBNAIL_MIME = "image/webp"  # what the official API sends for variant=thumbnail/spritesheet
SPRITESHEET_MIME = "image/webp"
VIDEO_WIDTH, VIDEO_HEIGHT, VIDEO_SECONDS = 480, 270, 4  # of assets/video.mp4 (H.264, 24 fps)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

Colour = bytes  # 3 bytes, RGB
Row = tuple[tuple[Colour, int], ...]  # (colour, run length) segments covering the width


# -- PNG generation -----------------------------------------------------------------------------


class _Stream:
    """Deterministic numbers read from a SHAKE-256 stream of the key (stable across Pythons)."""

    def __init__(self, key: str) -> None:
        self._data = hashlib.shake_256(key.encode("utf-8", "surrogatepass")).digest(512)
        self._pos = 0

    def byte(self) -> int:
        value = self._data[self._pos % len(self._data)]
        self._pos += 1
        return value

    def below(self, n: int) -> int:
        return (self.byte() << 8 | self.byte()) % n

    def unit(self) -> float:
        return (self.byte() << 8 | self.byte()) / 65535.0


def _colour(s: _Stream) -> Colour:
    r, g, b = colorsys.hsv_to_rgb(s.unit(), 0.45 + 0.55 * s.unit(), 0.35 + 0.65 * s.unit())
    return bytes((round(r * 255), round(g * 255), round(b * 255)))


def _runs(width: int, colours: list[Colour], weights: list[int]) -> Row:
    """Split the width among the colours in proportion to the weights (empty runs dropped)."""
    total, acc, start, row = sum(weights), 0, 0, []
    for colour, weight in zip(colours, weights, strict=True):
        acc += weight
        end = width * acc // total
        if end > start:
            row.append((colour, end - start))
        start = end
    return tuple(row)


def _splice(row: Row, x0: int, x1: int, colour: Colour) -> Row:
    """`row` with pixels [x0, x1) painted `colour`."""
    left: list[tuple[Colour, int]] = []
    right: list[tuple[Colour, int]] = []
    x = 0
    for c, n in row:
        if x < x0:
            left.append((c, min(n, x0 - x)))
        if x + n > x1:
            right.append((c, x + n - max(x, x1)))
        x += n
    return (*left, (colour, x1 - x0), *right)


def _band_rows(s: _Stream, width: int, height: int, palette: list[Colour]) -> list[Row]:
    """One row per y for a band: stripes, a stepped gradient or a checkerboard."""
    kind = s.below(3)
    if kind == 0:  # vertical stripes of varying widths
        count = 3 + s.below(8)
        colours = [palette[s.below(len(palette))] for _ in range(count)]
        return [_runs(width, colours, [1 + s.below(6) for _ in range(count)])] * height
    a, b = palette[s.below(len(palette))], palette[s.below(len(palette))]
    if kind == 1:  # horizontal gradient from a to b in up to 48 steps
        steps = min(width, 48)
        colours = [
            bytes(round(p + (q - p) * i / max(steps - 1, 1)) for p, q in zip(a, b, strict=True))
            for i in range(steps)
        ]
        return [_runs(width, colours, [1] * steps)] * height
    cell = max(1, min(width, height) // (2 + s.below(10)))
    cols = max(1, -(-width // cell))
    even = _runs(width, [a if i % 2 == 0 else b for i in range(cols)], [1] * cols)
    odd = _runs(width, [b if i % 2 == 0 else a for i in range(cols)], [1] * cols)
    return [even if (y // cell) % 2 == 0 else odd for y in range(height)]


def _pattern(width: int, height: int, key: str) -> list[Row]:
    s = _Stream(key)
    palette = [_colour(s) for _ in range(5)]
    bands = 1 + s.below(4)
    heights = [1 + s.below(4) for _ in range(bands)]
    rows: list[Row] = []
    total, acc = sum(heights), 0
    for h in heights:
        acc += h
        rows.extend(_band_rows(s, width, height * acc // total - len(rows), palette))
    # One shape on top, in steps of a few rows so that most rows repeat their predecessor.
    shape, colour = s.below(3), palette[s.below(len(palette))]
    cx, cy = int(width * (0.25 + 0.5 * s.unit())), int(height * (0.25 + 0.5 * s.unit()))
    radius = max(1, int(min(width, height) * (0.12 + 0.2 * s.unit())))
    step = max(1, radius // 8)
    painted: dict[tuple[int, int, int], Row] = {}  # (id of base row, x0, x1): rows repeat a lot
    for y in range(max(0, cy - radius), min(height, cy + radius)):
        dy = (abs(y - cy) // step) * step
        if shape == 0:  # rectangle
            half = radius
        elif shape == 1:  # disc
            half = int(math.sqrt(max(radius * radius - dy * dy, 0)))
        else:  # diamond
            half = radius - dy
        x0, x1 = max(0, cx - half), min(width, cx + half)
        if x1 > x0:
            base = rows[y]
            key_ = (id(base), x0, x1)
            if key_ not in painted:
                painted[key_] = _splice(base, x0, x1, colour)
            rows[y] = painted[key_]
    return rows


def _sub_filtered(row: Row) -> bytes:
    """Filter type 1 (Sub) of a row: each byte minus the one 3 to its left, from its segments."""
    parts, prev = [b"\x01"], b"\x00\x00\x00"
    for colour, n in row:
        parts.append(bytes((c - p) & 0xFF for c, p in zip(colour, prev, strict=True)))
        parts.append(b"\x00" * (3 * (n - 1)))
        prev = colour
    return b"".join(parts)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@functools.lru_cache(maxsize=64)
def png(width: int, height: int, key: str) -> bytes:
    """A valid RGB PNG of exactly width x height whose pattern is a function of `key`."""
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise ValueError(f"image size must be 1..{MAX_SIDE} per side, got {width}x{height}")
    rows = _pattern(width, height, key)
    up_zero = b"\x02" + b"\x00" * (3 * width)  # filter Up of a row equal to the one above
    parts: list[bytes] = []
    filtered: dict[int, bytes] = {}  # by id: the distinct rows are few shared tuples
    previous: Row | None = None
    for row in rows:
        if row is previous:
            parts.append(up_zero)
        else:
            if id(row) not in filtered:
                filtered[id(row)] = _sub_filtered(row)
            parts.append(filtered[id(row)])
        previous = row
    # Z_RLE finds the long zero runs the filters leave, much faster than the default strategy.
    packer = zlib.compressobj(6, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    idat = packer.compress(b"".join(parts)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return _PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


# -- reading what clients send ------------------------------------------------------------------

# JPEG start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) share the range.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset(range(0xD0, 0xDA)) | {0x01}  # RSTn, SOI, EOI, TEM: no length field


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker in _STANDALONE:
            i += 2
            continue
        if marker == 0xDA:  # start of scan before any frame header: not a valid image
            return None
        (length,) = struct.unpack_from(">H", data, i + 2)
        if marker in _SOF_MARKERS:
            if i + 9 > len(data):
                return None
            height, width = struct.unpack_from(">HH", data, i + 5)
            return width, height
        i += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    kind = data[12:16]
    if kind == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack_from("<HH", data, 26)
        return w & 0x3FFF, h & 0x3FFF
    if kind == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def image_info(data: bytes) -> tuple[str, int, int] | None:
    """(format, width, height) from an image's header bytes; None when it is not one we know."""
    size: tuple[int, int] | None = None
    if data.startswith(_PNG_SIGNATURE) and data[12:16] == b"IHDR" and len(data) >= 24:
        fmt, size = "png", struct.unpack_from(">II", data, 16)
    elif data.startswith(b"\xff\xd8\xff"):
        fmt, size = "jpeg", _jpeg_size(data)
    elif data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        fmt, size = "gif", struct.unpack_from("<HH", data, 6)
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        fmt, size = "webp", _webp_size(data)
    else:
        return None
    if size is None or size[0] == 0 or size[1] == 0:
        return None
    return fmt, size[0], size[1]


def _b64decode(text: str) -> bytes | None:
    """Standard or URL-safe base64, whitespace and missing padding tolerated."""
    compact = "".join(text.split()).rstrip("=")
    if not compact or len(compact) % 4 == 1:
        return None
    compact = compact.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def decode_data_url(url: str) -> tuple[str, bytes] | None:
    """(mime type, bytes) of a `data:` URL (RFC 2397, base64 or percent-encoded); None otherwise."""
    if url[:5].lower() != "data:" or "," not in url:
        return None
    header, payload = url[5:].split(",", 1)
    params = [p.strip() for p in header.split(";")]
    mime = params[0].lower() or "text/plain"
    if "/" not in mime:
        return None
    if any(p.lower() == "base64" for p in params[1:]):
        data = _b64decode(payload)
        return None if data is None else (mime, data)
    return mime, unquote_to_bytes(payload)


def _mpeg_frame(data: bytes) -> bool:
    """An MPEG audio frame header (a raw MP3 without ID3 tag): sync bits, no reserved fields."""
    if len(data) < 3 or data[0] != 0xFF or data[1] & 0xE0 != 0xE0:
        return False
    version, layer, bitrate = data[1] >> 3 & 3, data[1] >> 1 & 3, data[2] >> 4
    return version != 1 and layer != 0 and bitrate != 0xF and data[2] >> 2 & 3 != 3


def sniff(data: bytes) -> str | None:
    """The mime type of a payload from its magic bytes, for the kinds `guess_kind` tells apart."""
    info = image_info(data)
    if info is not None:
        return f"image/{info[0]}"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if data[:3] == b"ID3" or _mpeg_frame(data):
        return "audio/mpeg"
    if data[:4] == b"OggS":
        return "audio/ogg"
    if data[:4] == b"fLaC":
        return "audio/flac"
    if data[4:8] == b"ftyp" and data[8:11] == b"M4A":
        return "audio/mp4"
    if data[:5] == b"%PDF-":
        return "application/pdf"
    if data[:4] == b"PK\x03\x04":
        return "application/zip"  # also docx, xlsx, pptx
    return None


_IMAGE_EXT = frozenset({"png", "jpg", "jpeg", "gif", "webp", "bmp", "heic", "heif", "tif", "tiff", "avif"})
_AUDIO_EXT = frozenset({"mp3", "wav", "m4a", "ogg", "oga", "opus", "flac", "aac", "weba"})
_FILE_EXT = frozenset(
    {"pdf", "txt", "csv", "tsv", "json", "jsonl", "md", "html", "htm", "xml", "rtf", "doc", "docx",
     "xls", "xlsx", "ppt", "pptx", "odt", "ods", "odp", "epub", "zip", "py", "js", "ts", "java",
     "c", "cpp", "go", "rs", "rb", "php", "sh", "tex", "mp4", "mov", "webm"}
)  # fmt: skip
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$", re.IGNORECASE)
_FILENAME = re.compile(r"^[^\s]+\.([A-Za-z0-9]{1,5})$")
_BASE64 = re.compile(r"^[A-Za-z0-9+/_-]+={0,2}$")
_MIN_BASE64 = 16  # shorter strings are words, not payloads


def _kind_of_mime(mime: str) -> str:
    if mime.startswith("image/"):
        return "image"
    if mime.startswith("audio/"):
        return "audio"
    return "file"


def _kind_of_extension(ext: str) -> str | None:
    ext = ext.lower()
    if ext in _IMAGE_EXT:
        return "image"
    if ext in _AUDIO_EXT:
        return "audio"
    if ext in _FILE_EXT:
        return "file"
    return None


def guess_kind(value: str) -> str:
    """Classify an untyped input value as "image", "audio", "file" or "text" (自动识别输入类型).

    A data URL goes by its mime type (or its bytes when the type is generic), a URL or a file
    name by its extension, a bare base64 payload by its magic bytes; everything else is text.
    """
    value = value.strip()
    decoded = decode_data_url(value)
    if decoded is not None:
        mime, data = decoded
        if mime in ("application/octet-stream", "binary/octet-stream"):
            mime = sniff(data) or mime
        return _kind_of_mime(mime)
    if _URL.match(value):
        ext = urlsplit(value).path.rpartition("/")[2].rpartition(".")
        return (ext[1] and _kind_of_extension(ext[2])) or "text"
    name = _FILENAME.match(value)
    if name and (kind := _kind_of_extension(name.group(1))):
        return kind
    compact = "".join(value.split())
    if len(compact) >= _MIN_BASE64 and _BASE64.match(compact):
        head = _b64decode(compact[:64])  # the magic bytes are in the first 48 bytes
        mime = sniff(head) if head else None
        if mime is not None:
            return _kind_of_mime(mime)
    return "text"


# -- committed video assets ---------------------------------------------------------------------


@functools.cache
def _asset(name: str) -> bytes:
    return resources.files(__package__).joinpath("assets", name).read_bytes()


def mp4() -> bytes:
    """A real, playable 4 s 480x270 H.264 MP4 (moov before mdat, so it streams)."""
    return _asset("video.mp4")


def thumbnail() -> bytes:
    """A WebP frame of `mp4()` (THUMBNAIL_MIME), the `variant=thumbnail` download."""
    return _asset("thumbnail.webp")


def spritesheet() -> bytes:
    """A WebP grid of 8 frames of `mp4()` (SPRITESHEET_MIME), the `variant=spritesheet` download."""
    return _asset("spritesheet.webp")


def video_content(variant: str = "video") -> tuple[str, bytes] | None:
    """(mime type, bytes) for GET /videos/{id}/content?variant=...; None for an unknown variant."""
    if variant == "video":
        return MP4_MIME, mp4()
    if variant == "thumbnail":
        return THUMBNAIL_MIME, thumbnail()
    if variant == "spritesheet":
        return SPRITESHEET_MIME, spritesheet()
    return None
