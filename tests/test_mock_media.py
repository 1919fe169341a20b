"""mocks.media: generated PNGs, header sniffing, data URLs, input kinds and the video assets."""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import wave
import zlib

import pytest
from PIL import Image

from mocks import media

# sha256 prefix of the pixels of png(64, 48, "a cat"): the pattern is part of the determinism contract.
PINNED_64x48_A_CAT = "b2aa72f28391906d"


def _pillow(fmt: str, size: tuple[int, int] = (37, 21), **options: object) -> bytes:
    out = io.BytesIO()
    mode = "RGBA" if options.pop("alpha", False) else "RGB"
    Image.new(mode, size, (200, 30, 90, 128)[: len(mode)]).save(out, fmt, **options)
    return out.getvalue()


def _wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x01" * 200)
    return out.getvalue()


def _idat(png: bytes) -> bytes:
    chunks, i = [], 8
    while i < len(png):
        (length,) = struct.unpack_from(">I", png, i)
        kind = png[i + 4 : i + 8]
        body = png[i + 8 : i + 8 + length]
        assert struct.unpack_from(">I", png, i + 8 + length)[0] == zlib.crc32(kind + body)
        if kind == b"IDAT":
            chunks.append(body)
        i += 12 + length
    return b"".join(chunks)


# -- png -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size", [(1024, 1024), (1536, 1024), (1024, 1536), (1792, 1024), (256, 256), (1, 1), (3, 1), (1, 5)]
)
def test_png_decodes_to_the_requested_size(size: tuple[int, int]) -> None:
    data = media.png(*size, "a cat on a skateboard")
    image = Image.open(io.BytesIO(data))
    image.load()
    assert (image.format, image.mode, image.size) == ("PNG", "RGB", size)
    assert media.image_info(data) == ("png", *size)
    # zlib.decompress checks the Adler-32 that png() computes itself for repeated rows.
    assert len(zlib.decompress(_idat(data))) == size[1] * (3 * size[0] + 1)


def test_png_pixels_are_deterministic_and_pinned() -> None:
    pixels = Image.open(io.BytesIO(media.png(64, 48, "a cat"))).tobytes()
    assert hashlib.sha256(pixels).hexdigest()[:16] == PINNED_64x48_A_CAT


def test_png_same_key_same_bytes_different_key_different_bytes() -> None:
    first = media.png(300, 200, "sunset")
    media.png.cache_clear()
    assert media.png(300, 200, "sunset") == first
    assert media.png(300, 200, "sunrise") != first
    assert media.png(300, 200, "日落") != first


def test_png_has_a_pattern_not_a_flat_colour() -> None:
    image = Image.open(io.BytesIO(media.png(512, 512, "stripes please")))
    colours = image.getcolors(maxcolors=100_000)
    assert colours is not None and len(colours) >= 3


@pytest.mark.parametrize("size", [(0, 10), (10, 0), (media.MAX_SIDE + 1, 10), (-1, 5)])
def test_png_rejects_impossible_sizes(size: tuple[int, int]) -> None:
    with pytest.raises(ValueError):
        media.png(*size, "x")


# -- image_info ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (_pillow("PNG"), ("png", 37, 21)),
        (_pillow("JPEG"), ("jpeg", 37, 21)),
        (_pillow("JPEG", progressive=True), ("jpeg", 37, 21)),  # SOF2
        (_pillow("JPEG", size=(640, 480), exif=b"Exif\x00\x00" + b"\x00" * 64), ("jpeg", 640, 480)),
        (_pillow("GIF"), ("gif", 37, 21)),
        (_pillow("WEBP", quality=80), ("webp", 37, 21)),  # VP8
        (_pillow("WEBP", lossless=True), ("webp", 37, 21)),  # VP8L
        (_pillow("WEBP", alpha=True, size=(300, 17)), ("webp", 300, 17)),  # VP8X or VP8L
        (_pillow("WEBP", size=(4000, 3)), ("webp", 4000, 3)),
    ],
)
def test_image_info_reads_pillow_images(data: bytes, expected: tuple[str, int, int]) -> None:
    assert media.image_info(data) == expected


def test_image_info_reads_a_vp8x_webp() -> None:
    out = io.BytesIO()
    frames = [Image.new("RGB", (50, 40), c) for c in ("red", "blue")]
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], duration=100)
    assert out.getvalue()[12:16] == b"VP8X"
    assert media.image_info(out.getvalue()) == ("webp", 50, 40)


@pytest.mark.parametrize(
    "data",
    [b"", b"hello", _wav(), b"%PDF-1.7\n", _pillow("JPEG")[:40], b"\xff\xd8\xff\xda\x00\x02", b"GIF89a"],
)
def test_image_info_is_none_for_non_images(data: bytes) -> None:
    assert media.image_info(data) is None


# -- data URLs -----------------------------------------------------------------------------------


def test_decode_data_url_good() -> None:
    png = media.png(8, 8, "x")
    b64 = base64.b64encode(png).decode()
    assert media.decode_data_url(f"data:image/png;base64,{b64}") == ("image/png", png)
    assert media.decode_data_url(f"DATA:Image/PNG;name=a.png;base64,{b64.rstrip('=')}") == ("image/png", png)
    urlsafe = base64.urlsafe_b64encode(b"\xfb\xff\xfe").decode()
    assert media.decode_data_url(f"data:application/octet-stream;base64,{urlsafe}")[1] == b"\xfb\xff\xfe"
    assert media.decode_data_url("data:,Hello%2C%20World") == ("text/plain", b"Hello, World")


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/a.png",
        "data:image/png;base64",  # no comma
        "data:image/png;base64,***not base64***",
        "data:image/png;base64,A",  # impossible length
        "data:png;base64,AAAA",  # no mime type
        "",
    ],
)
def test_decode_data_url_bad(url: str) -> None:
    assert media.decode_data_url(url) is None


# -- guess_kind ----------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


MP3_FRAME = b"\xff\xfb\x90\x64" + b"\x00" * 40
KIND_CASES = [
    # data URLs by mime type, or by content when the type says nothing
    (f"data:image/png;base64,{_b64(media.png(4, 4, 'k'))}", "image"),
    (f"data:audio/wav;base64,{_b64(_wav())}", "audio"),
    ("data:application/pdf;base64," + _b64(b"%PDF-1.4 hello"), "file"),
    ("data:text/plain;base64," + _b64(b"plain words"), "file"),
    (f"data:application/octet-stream;base64,{_b64(_pillow('GIF'))}", "image"),
    # URLs and file names by extension
    ("https://example.com/cat.png", "image"),
    ("https://cdn.example.com/x/photo.JPEG?w=200#top", "image"),
    ("http://example.com/a.webp", "image"),
    ("https://example.com/song.mp3", "audio"),
    ("https://example.com/voice.m4a", "audio"),
    ("https://example.com/report.pdf", "file"),
    ("https://picsum.photos/200/200", "text"),  # nothing says what it is
    ("photo.jpg", "image"),
    ("clip.flac", "audio"),
    ("/tmp/take1.wav", "audio"),
    ("notes.ogg", "audio"),
    ("table.csv", "file"),
    ("C:\\docs\\letter.docx", "file"),
    ("readme.txt", "file"),
    # bare base64 by magic bytes
    (_b64(media.png(4, 4, "k")), "image"),
    (_b64(_pillow("JPEG")), "image"),
    (_b64(_pillow("GIF")), "image"),
    (_b64(_pillow("WEBP")), "image"),
    (_b64(_wav()), "audio"),
    (_b64(b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00" * 30), "audio"),
    (_b64(MP3_FRAME), "audio"),
    (_b64(b"OggS\x00\x02" + b"\x00" * 30), "audio"),
    (_b64(b"fLaC\x00\x00\x00\x22" + b"\x00" * 30), "audio"),
    (_b64(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + b"0" * 30), "file"),
    ("\n".join(_b64(_wav())[i : i + 76] for i in range(0, len(_b64(_wav())), 76)), "audio"),  # MIME lines
    # text
    ("这张图里有什么？", "text"),
    ("帮我计算1+5等于多少", "text"),
    ("what is in this picture.png, tell me", "text"),
    ("hello.world", "text"),
    ("e.g.", "text"),
    ("", "text"),
    ("SGVsbG8gd29ybGQgaG93IGFyZSB5b3U=", "text"),  # base64, but of plain words
    ("12345678901234567890", "text"),
    ("Supercalifragilistic", "text"),
]


@pytest.mark.parametrize(
    ("value", "kind"), KIND_CASES, ids=[f"{k}-{i}" for i, (_, k) in enumerate(KIND_CASES)]
)
def test_guess_kind(value: str, kind: str) -> None:
    assert media.guess_kind(value) == kind


# -- video assets --------------------------------------------------------------------------------


def _boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[bytes, bytes]]:
    """(type, payload) of the ISO-BMFF boxes in data[start:end]."""
    end = len(data) if end is None else end
    boxes, i = [], start
    while i < end:
        size, kind = struct.unpack_from(">I4s", data, i)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, i + 8)
            header = 16
        elif size == 0:
            size = end - i
        assert size >= header and i + size <= end, f"bad box {kind!r} at {i}"
        boxes.append((kind, data[i + header : i + size]))
        i += size
    return boxes


def _child(payload: bytes, kind: bytes) -> bytes:
    found = [body for k, body in _boxes(payload) if k == kind]
    assert found, f"no {kind!r} box"
    return found[0]


def test_mp4_is_a_small_h264_mp4() -> None:
    data = media.mp4()
    assert 1000 < len(data) < 60_000
    top = _boxes(data)
    kinds = [k for k, _ in top]
    assert kinds[0] == b"ftyp" and b"moov" in kinds and b"mdat" in kinds
    assert kinds.index(b"moov") < kinds.index(b"mdat")  # faststart: playable while streaming
    moov = dict(top)[b"moov"]
    mvhd = _child(moov, b"mvhd")
    assert mvhd[0] == 0
    timescale, duration = struct.unpack_from(">II", mvhd, 12)
    assert duration / timescale == pytest.approx(media.VIDEO_SECONDS, abs=0.1)
    trak = _child(moov, b"trak")
    tkhd = _child(trak, b"tkhd")
    assert tkhd[0] == 0
    width, height = struct.unpack_from(">II", tkhd, 76)
    assert (width >> 16, height >> 16) == (media.VIDEO_WIDTH, media.VIDEO_HEIGHT)
    stsd = _child(_child(_child(_child(trak, b"mdia"), b"minf"), b"stbl"), b"stsd")
    entries = _boxes(stsd, 8)  # after version, flags and entry count
    assert [k for k, _ in entries] == [b"avc1"]
    assert struct.unpack_from(">HH", entries[0][1], 24) == (media.VIDEO_WIDTH, media.VIDEO_HEIGHT)
    assert media.mp4() is data  # read once


@pytest.mark.parametrize(
    ("variant", "size"),
    [("thumbnail", (media.VIDEO_WIDTH, media.VIDEO_HEIGHT)), ("spritesheet", None)],
)
def test_preview_images_open_in_pillow(variant: str, size: tuple[int, int] | None) -> None:
    mime, data = media.video_content(variant)
    assert mime == "image/webp"
    assert data == getattr(media, variant)()
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "WEBP"
    assert media.image_info(data) == ("webp", *image.size)
    if size:
        assert image.size == size


def test_video_content_variants() -> None:
    assert media.video_content() == ("video/mp4", media.mp4())
    assert media.video_content("video") == ("video/mp4", media.mp4())
    assert media.video_content("poster") is None
