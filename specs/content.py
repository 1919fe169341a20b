"""What a piece of client content is, read without network: data URLs, magic bytes, image sizes.

Used where the wire allows untyped input parts (WIRE.md: "a part whose type is missing is
classified from its value"): the gateway normalises such parts, the mocks describe them.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from urllib.parse import unquote_to_bytes, urlsplit

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

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
    # Magic bytes only: a payload's head may end before a JPEG's frame header.
    if data.startswith(_PNG_SIGNATURE):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
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
