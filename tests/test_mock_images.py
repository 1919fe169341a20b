"""Images of the OpenAI mock: generations and edits through the official SDK (multipart with
`image`, `image[]` and a mask), the seed's JSON edit body and the official JSON form, real PNGs
of the requested size, our specs and the official schema, and a table of bad inputs."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from openai import OpenAI
from reference import openai_errors

import specs
from mocks import media
from specs import seed

KEY = {"authorization": "Bearer sk-test"}
PNG = media.png(64, 48, "input")
OTHER_PNG = media.png(64, 48, "another input")




def check_images(obj: dict[str, Any], size: str, n: int = 1) -> list[bytes]:
    """Both schemas hold; `n` real PNGs of `size` came back. Returns the PNGs."""
    assert specs.schema_errors("openai", "ImagesResponse", obj) == []
    assert openai_errors("ImagesResponse", obj) == []
    assert len(obj["data"]) == n
    w, h = (int(v) for v in size.split("x"))
    pngs = [base64.b64decode(item["b64_json"], validate=True) for item in obj["data"]]
    for png in pngs:
        assert media.image_info(png) == ("png", w, h)
    return pngs


def raw_json(response: Any) -> dict[str, Any]:
    return json.loads(response.content)


# -- generations ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("model", "size"), [("gpt-image-1", "1024x1024"), ("gpt-image-1", "1536x1024"),
                                             ("gpt-image-1-mini", "1024x1536"), ("gpt-image-1", "256x256"),
                                             ("dall-e-3", "1792x1024")])
def test_generate_via_sdk(client: OpenAI, model: str, size: str) -> None:
    raw = client.images.with_raw_response.generate(model=model, prompt="a yellow cat", size=size, n=2)
    pngs = check_images(raw_json(raw), size, n=2)
    assert pngs[0] != pngs[1]  # each image of n is its own
    resp = raw.parse()
    assert len(resp.data) == 2 and resp.created > 0
    if model.startswith("gpt-image"):
        assert resp.usage is not None and resp.usage.output_tokens > 0 and resp.usage.input_tokens > 0
    else:
        assert resp.data[0].revised_prompt == "a yellow cat" and resp.usage is None


def test_generate_is_deterministic_and_follows_the_prompt(http: httpx.Client) -> None:
    def one(prompt: str, headers: dict[str, str] | None = None) -> bytes:
        r = http.post("/v1/images/generations", json={"prompt": prompt, "size": "256x256"}, headers=headers)
        assert r.status_code == 200, r.text
        return check_images(r.json(), "256x256")[0]

    cat = one("a yellow cat")
    assert one("a yellow cat") == cat
    assert one("a lion") != cat
    assert one("a yellow cat", {"x-mock-config": '{"seed": 3}'}) != cat


def test_seed_generation_body_as_written(server) -> None:
    r = httpx.post(server.url + seed.IMAGE_GENERATION.path, content=seed.IMAGE_GENERATION.body.encode(),
                   headers={"Authorization": "sk-seed-key", "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    check_images(r.json(), "1024x1024")
    assert r.json()["quality"] == "low"


def test_url_response_format(http: httpx.Client) -> None:
    r = http.post("/v1/images/generations", json={"model": "dall-e-3", "prompt": "a cat", "size": "1024x1792",
                                                  "response_format": "url"})
    assert r.status_code == 200, r.text
    obj = r.json()
    assert specs.schema_errors("openai", "ImagesResponse", obj) == [] and openai_errors("ImagesResponse", obj) == []
    mime, png = media.decode_data_url(obj["data"][0]["url"])
    assert mime == "image/png" and media.image_info(png) == ("png", 1024, 1792)


# -- edits --------------------------------------------------------------------------------------------------------
def test_edit_multipart_image_via_sdk(client: OpenAI) -> None:
    raw = client.images.with_raw_response.edit(image=("cat.png", PNG, "image/png"), prompt="make it a lion",
                                               size="1024x1024")
    out = check_images(raw_json(raw), "1024x1024")[0]
    other = client.images.edit(image=("cat.png", OTHER_PNG, "image/png"), prompt="make it a lion", size="1024x1024")
    assert base64.b64decode(other.data[0].b64_json) != out  # the output depends on the input image


def test_edit_multipart_image_list_and_mask_via_sdk(client: OpenAI) -> None:
    images = [("a.png", PNG, "image/png"), ("b.png", OTHER_PNG, "image/png")]
    raw = client.images.with_raw_response.edit(image=images, prompt="combine them", size="1536x1024", n=2)
    listed = check_images(raw_json(raw), "1536x1024", n=2)
    single = client.images.edit(image=images[0], prompt="combine them", size="1536x1024", n=2)
    assert base64.b64decode(single.data[0].b64_json) != listed[0]  # both images counted
    masked = client.images.with_raw_response.edit(image=images[0], mask=("mask.png", media.png(64, 48, "m"), "image/png"),
                                                  prompt="only the sky")
    check_images(raw_json(masked), "1024x1024")


def test_seed_edit_body_as_written(server) -> None:
    # the guide's JSON body (bare base64 image) byte for byte, posted to /v1/images/edits
    assert seed.IMAGE_EDIT.path.endswith("/v1/images/edits")
    r = httpx.post(server.url + "/v1/images/edits", content=seed.IMAGE_EDIT.body.encode(),
                   headers={"Authorization": "sk-seed-key", "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    check_images(r.json(), "1024x1024")
    assert r.json()["usage"]["input_tokens_details"]["image_tokens"] > 0


def test_official_json_edit(http: httpx.Client) -> None:
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    body = {"model": "gpt-image-1", "prompt": "a lion", "size": "1024x1536",
            "images": [{"image_url": data_url}, {"image_url": "https://images.example.com/cat.png"}]}
    r = http.post("/v1/images/edits", json=body)
    assert r.status_code == 200, r.text
    out = check_images(r.json(), "1024x1536")[0]
    # the bare-base64 seed form of the same first image gives a different result than both images
    r2 = http.post("/v1/images/edits", json={"prompt": "a lion", "size": "1024x1536",
                                             "image": base64.b64encode(PNG).decode()})
    assert r2.status_code == 200 and check_images(r2.json(), "1024x1536")[0] != out
    # the same single image in either form is the same input
    r3 = http.post("/v1/images/edits", json={"prompt": "a lion", "size": "1024x1536", "images": [{"image_url": data_url}]})
    assert check_images(r3.json(), "1024x1536")[0] == check_images(r2.json(), "1024x1536")[0]


# -- bad input ---------------------------------------------------------------------------------------------------------
B64 = base64.b64encode(PNG).decode()
BAD_JSON: list[tuple[str, str, Any, int, str | None]] = [
    ("gen: empty body", "generations", b"", 400, None),
    ("gen: not JSON", "generations", b"{prompt", 400, None),
    ("gen: no prompt", "generations", {"model": "gpt-image-1"}, 400, None),
    ("gen: empty prompt", "generations", {"prompt": ""}, 400, "prompt"),
    ("gen: prompt a number", "generations", {"prompt": 5}, 400, "prompt"),
    ("gen: n zero", "generations", {"prompt": "x", "n": 0}, 400, "n"),
    ("gen: n eleven", "generations", {"prompt": "x", "n": 11}, 400, "n"),
    ("gen: n a string", "generations", {"prompt": "x", "n": "2"}, 400, "n"),
    ("gen: odd size", "generations", {"prompt": "x", "size": "13x13"}, 400, "size"),
    ("gen: size a number", "generations", {"prompt": "x", "size": 1024}, 400, "size"),
    ("gen: response_format gif", "generations", {"prompt": "x", "response_format": "gif"}, 400, "response_format"),
    ("gen: chat model", "generations", {"prompt": "x", "model": "gpt-4.1-mini"}, 400, "model"),
    ("gen: unknown model", "generations", {"prompt": "x", "model": "imagine-9"}, 404, "model"),
    ("edit: no image", "edits", {"prompt": "x"}, 400, None),
    ("edit: no prompt", "edits", {"image": B64}, 400, None),
    ("edit: image not base64", "edits", {"prompt": "x", "image": "!!!!"}, 400, "image"),
    ("edit: base64 without padding", "edits", {"prompt": "x", "image": "aGVsbG8"}, 400, "image"),
    ("edit: base64 of text", "edits", {"prompt": "x", "image": "aGVsbG8="}, 400, "image"),
    ("edit: images item empty", "edits", {"prompt": "x", "images": [{}]}, 400, "images[0]"),
    ("edit: images item a string", "edits", {"prompt": "x", "images": ["x"]}, 400, "images[0]"),
    ("edit: broken data URL", "edits", {"prompt": "x", "images": [{"image_url": "data:image/png;base64,@@"}]}, 400,
     "images[0]"),
    ("edit: data URL of text", "edits", {"prompt": "x", "images": [{"image_url": "data:image/png;base64,aGVsbG8="}]},
     400, "image"),
    ("edit: both forms", "edits", {"prompt": "x", "image": B64, "images": [{"image_url": "https://x.example/y.png"}]},
     400, None),
    ("edit: odd size", "edits", {"prompt": "x", "image": B64, "size": "5x5"}, 400, "size"),
]


@pytest.mark.parametrize(("name", "endpoint", "body", "status", "param"), BAD_JSON, ids=[c[0] for c in BAD_JSON])
def test_bad_json_input(http: httpx.Client, name: str, endpoint: str, body: Any, status: int,
                        param: str | None) -> None:
    path = f"/v1/images/{endpoint}"
    if isinstance(body, bytes):
        r = http.post(path, content=body, headers={"content-type": "application/json"})
    else:
        r = http.post(path, json=body)
    assert r.status_code == status, r.text
    check_error(r, param)


MASK = media.png(64, 48, "mask")
BAD_MULTIPART: list[tuple[str, dict[str, Any], str | None]] = [
    ("no image", {"data": {"prompt": "x"}, "files": {"other": ("a.txt", b"hi", "text/plain")}}, "image"),
    ("image not an image", {"data": {"prompt": "x"}, "files": {"image": ("a.png", b"hello", "image/png")}}, "image"),
    ("second image not an image", {"data": {"prompt": "x"}, "files": [
        ("image[]", ("a.png", PNG, "image/png")), ("image[]", ("b.png", b"GIF", "image/gif"))]}, "image"),
    ("mask not an image", {"data": {"prompt": "x"}, "files": [
        ("image", ("a.png", PNG, "image/png")), ("mask", ("m.png", b"zz", "image/png"))]}, "mask"),
    ("n not a number", {"data": {"prompt": "x", "n": "abc"}, "files": {"image": ("a.png", PNG, "image/png")}}, "n"),
    ("n zero", {"data": {"prompt": "x", "n": "0"}, "files": {"image": ("a.png", PNG, "image/png")}}, "n"),
    ("no prompt", {"files": {"image": ("a.png", PNG, "image/png")}}, "prompt"),
    ("odd size", {"data": {"prompt": "x", "size": "1x1"}, "files": {"image": ("a.png", PNG, "image/png")}}, "size"),
    ("chat model", {"data": {"prompt": "x", "model": "gpt-4.1-mini"}, "files": {"image": ("a.png", PNG, "image/png")}},
     "model"),
    ("no boundary", {"content": b"abc", "headers": {"content-type": "multipart/form-data"}}, None),
    ("broken body", {"content": b"--zz\r\nbroken", "headers": {"content-type": "multipart/form-data; boundary=zz"}},
     "prompt"),
]


@pytest.mark.parametrize(("name", "kw", "param"), BAD_MULTIPART, ids=[c[0] for c in BAD_MULTIPART])
def test_bad_multipart_edit(http: httpx.Client, name: str, kw: dict[str, Any], param: str | None) -> None:
    r = http.post("/v1/images/edits", **kw)
    assert r.status_code == 400, r.text
    check_error(r, param)


def test_good_multipart_after_bad_ones(http: httpx.Client) -> None:
    # the table above must fail for its own reason: the same request with the fault removed works
    r = http.post("/v1/images/edits", data={"prompt": "x", "n": "2", "size": "256x256"},
                  files=[("image[]", ("a.png", PNG, "image/png")), ("image[]", ("b.png", OTHER_PNG, "image/png")),
                         ("mask", ("m.png", MASK, "image/png"))])
    assert r.status_code == 200, r.text
    check_images(r.json(), "256x256", n=2)


def check_error(r: httpx.Response, param: str | None) -> None:
    body = r.json()
    assert specs.schema_errors("openai", "ErrorResponse", body) == []
    assert openai_errors("ErrorResponse", body) == []
    assert body["error"]["message"] and body["error"]["param"] == param
    assert body["error"]["type"] == "invalid_request_error"
    assert "Traceback" not in r.text and 'File "' not in r.text
    assert r.headers["x-mock-node"] == "openai"
