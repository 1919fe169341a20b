"""Real media for the mock upstreams: generated PNGs, a committed MP4 and its previews, sniffing.

`png()` draws a deterministic pattern (bands of stripes, gradients or checks plus one shape)
chosen by the prompt. Rows are run-length segment lists, so a row is encoded with the PNG
"Sub" filter straight from its segments (mostly zero bytes) and a repeated row with "Up"
(all zeros), whose compressed form is cached: no per-pixel Python loop, about 1 ms for 1024x1024.
`image_info`, `decode_data_url` and `guess_kind` (what a client sent) live in specs.content.
"""

from __future__ import annotations

import colorsys
import functools
import hashlib
import math
import struct
import zlib
from importlib import resources

from specs.content import decode_data_url, guess_kind, image_info, sniff

__all__ = ["decode_data_url", "guess_kind", "image_info", "mp4", "png", "sniff", "spritesheet",
           "thumbnail", "video_content"]

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


_ADLER_MOD = 65521


def _up_zero(width: int) -> bytes:
    return b"\x02" + b"\x00" * (3 * width)  # filter Up of a row equal to the one above


@functools.lru_cache(maxsize=128)
def _repeat_block(width: int, rows: int) -> bytes:
    """Raw deflate of `rows` repeated rows: self-contained, byte-aligned, not final."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_RLE)
    return packer.compress(_up_zero(width) * rows) + packer.flush(zlib.Z_SYNC_FLUSH)


def _adler_after_repeats(adler: int, width: int, rows: int) -> int:
    """Adler-32 continued over `rows` copies of `_up_zero(width)`, in closed form."""
    a, b = adler & 0xFFFF, adler >> 16
    b = (b + (1 + 3 * width) * (rows * a + rows * (rows + 1))) % _ADLER_MOD
    return b << 16 | (a + 2 * rows) % _ADLER_MOD


def _idat(width: int, rows: list[Row]) -> bytes:
    """The zlib stream of the filtered rows.

    zlib only sees each distinct row once: a run of repeated rows is spliced in as cached
    deflate blocks for 1, 2, 4, ... rows (a full flush first, so that no later match reaches
    back over them), and the Adler-32 of the run is computed, not hashed.
    """
    packer = zlib.compressobj(6, zlib.DEFLATED, -15, 9, zlib.Z_RLE)
    out, adler = [b"\x78\x9c"], 1
    filtered: dict[int, bytes] = {}  # by id: the distinct rows are few shared tuples
    y = 0
    while y < len(rows):
        row = rows[y]
        repeats = 0
        while y + 1 + repeats < len(rows) and rows[y + 1 + repeats] is row:
            repeats += 1
        if id(row) not in filtered:
            filtered[id(row)] = _sub_filtered(row)
        out.append(packer.compress(filtered[id(row)]))
        adler = zlib.adler32(filtered[id(row)], adler)
        if repeats:
            out.append(packer.flush(zlib.Z_FULL_FLUSH))
            for bit in range(repeats.bit_length()):
                if repeats >> bit & 1:
                    out.append(_repeat_block(width, 1 << bit))
            adler = _adler_after_repeats(adler, width, repeats)
        y += 1 + repeats
    out.append(packer.flush())
    out.append(struct.pack(">I", adler))
    return b"".join(out)


@functools.lru_cache(maxsize=128)  # about 10 KB each
def png(width: int, height: int, key: str) -> bytes:
    """A valid RGB PNG of exactly width x height whose pattern is a function of `key`."""
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise ValueError(f"image size must be 1..{MAX_SIDE} per side, got {width}x{height}")
    idat = _idat(width, _pattern(width, height, key))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return _PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")



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
