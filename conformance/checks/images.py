"""Images: generations return real PNGs of the asked size; edits accept all three input forms."""

from __future__ import annotations

import base64
import binascii
import struct
import zlib
from typing import Any

import httpx

from specs import seed
from specs.content import image_info

from ..context import Ctx
from ..registry import Case, Sub, cases, check

GENERATIONS, EDITS = "/v1/images/generations", "/v1/images/edits"
SEED_IMAGE_B64: str = seed.IMAGE_EDIT.json()["image"]  # a 100x100 PNG, bare base64 as the seed sends it


def encode_png(width: int, height: int, rgba: bytes) -> bytes:
    """A minimal RGBA PNG (the mask of an edit: transparent where the image is to change)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + rgba[y * width * 4:(y + 1) * width * 4] for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def mask_png(width: int = 100, height: int = 100) -> bytes:
    """Opaque except a transparent square in the middle."""
    px = bytearray()
    for y in range(height):
        for x in range(width):
            inside = width // 4 <= x < 3 * width // 4 and height // 4 <= y < 3 * height // 4
            px += b"\x00\x00\x00\x00" if inside else b"\x00\x00\x00\xff"
    return encode_png(width, height, bytes(px))


def pngs(ctx: Ctx, resp: httpx.Response, size: str | None, what: str, n: int = 1) -> list[bytes]:
    """The images of an ImagesResponse: `n` real PNGs (b64_json), each `size` ("WxH") when given."""
    obj = ctx.ok_json(resp, what)
    ctx.valid("openai", "ImagesResponse", obj, what)
    ctx.expect(len(obj["data"]) == n, f"{what}: {len(obj['data'])} images, expected {n}")
    out = []
    for i, item in enumerate(obj["data"]):
        ctx.expect(isinstance(item.get("b64_json"), str), f"{what}: image {i} has no b64_json "
                   f"(keys {sorted(item)})")
        try:
            raw = base64.b64decode(item["b64_json"], validate=True)
        except (binascii.Error, ValueError):
            ctx.fail(f"{what}: image {i}: b64_json is not base64")
        ctx.expect(raw.startswith(b"\x89PNG\r\n\x1a\n"), f"{what}: image {i} is not a PNG (starts {raw[:8]!r})")
        info = image_info(raw)
        ctx.expect(info is not None, f"{what}: image {i}: a PNG signature but no readable IHDR")
        if size:
            got = f"{info[1]}x{info[2]}"
            ctx.expect(got == size, f"{what}: image {i} is {got} (IHDR), expected size {size}")
        out.append(raw)
    if size and "size" in obj:
        ctx.expect(obj["size"] == size, f"{what}: the answer says size {obj['size']!r}, expected {size}")
    return out


@check("images.generate", "Image generation returns b64_json of real PNGs (magic bytes, IHDR) of the asked size",
       surface="openai.images")
def images_generate(ctx: Ctx) -> None:
    size = "1024x1536"
    req = {"model": ctx.target.image_model, "prompt": "一只黄色的猫咪", "n": 1, "size": size, "quality": "low"}
    pngs(ctx, ctx.post(GENERATIONS, req), size, f"POST {GENERATIONS} size {size}")


GUIDE_FORM = "seed JSON, image as bare base64"  # the usage guide's own form (surface topapi)


def edit_forms(ctx: Ctx) -> list[tuple[str, dict[str, Any], str]]:
    """(form name, httpx request arguments, asked size) per input form of an image edit."""
    m, prompt = ctx.target.image_model, "把图片中的猫变成一只狮子"
    raw = base64.b64decode(SEED_IMAGE_B64)
    data_url = "data:image/png;base64," + SEED_IMAGE_B64
    mask = mask_png()
    return [
        (GUIDE_FORM, {"json": {"model": m, "prompt": prompt, "image": SEED_IMAGE_B64,
                                                      "size": "1024x1024"}}, "1024x1024"),
        ("official JSON, images:[{image_url}] + mask", {"json": {
            "model": m, "prompt": prompt, "images": [{"image_url": data_url}], "size": "1536x1024",
            "mask": {"image_url": "data:image/png;base64," + base64.b64encode(mask).decode()}}}, "1536x1024"),
        ("multipart, image", {"files": [("image", ("cat.png", raw, "image/png"))],
                              "data": {"model": m, "prompt": prompt, "size": "1024x1024"}}, "1024x1024"),
        ("multipart, image[] x2 + mask", {"files": [("image[]", ("cat.png", raw, "image/png")),
                                                    ("image[]", ("cat2.png", raw, "image/png")),
                                                    ("mask", ("mask.png", mask, "image/png"))],
                                          "data": {"model": m, "prompt": prompt, "size": "1024x1536"}}, "1024x1536"),
    ]


@check("images.edit_forms", "Image edits accept all three input forms (seed JSON with bare base64, official JSON "
       "images:[{image_url}], multipart image / image[] with mask), each returning a real PNG of the asked size",
       surface="openai.images")
def images_edit_forms(ctx: Ctx) -> list[Sub]:
    def one(name: str, kw: dict[str, Any], size: str) -> None:
        if "json" in kw:
            r = ctx.post(EDITS, kw["json"])
        else:
            r = ctx.request("POST", EDITS, files=kw["files"], data=kw["data"])
        pngs(ctx, r, size, f"edit ({name})")

    return cases(ctx, [Case(name, lambda a=(name, kw, size): one(*a),
                            surface=("openai.images", "topapi") if name == GUIDE_FORM else "openai.images")
                       for name, kw, size in edit_forms(ctx)])
