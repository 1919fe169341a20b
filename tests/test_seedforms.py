"""specs.seedforms: the seed's request forms mapped to the official ones, and bad values named."""

import pytest

from specs import seed, seedforms


def test_nested_tool_is_the_flat_tool():
    body = seed.RESPONSES_TOOL_CALL.json()
    out = seedforms.responses_body(body)
    tool = out["tools"][0]
    assert tool["type"] == "function" and tool["name"] == "calc" and "function" not in tool
    assert tool["parameters"]["required"] == ["expr"]
    assert body["tools"][0]["function"]["name"] == "calc"  # the input is not changed


def test_untyped_parts_are_classified():
    png = "data:image/png;base64,iVBORw0KGgo="
    body = {"input": [{"role": "user", "content": [{"text": "hi"}, {"image_url": png}, "plain words",
                                                    {"url": "https://x.test/a.mp3"}, {"type": "input_text", "text": "kept"}]}]}
    kinds = [p.get("type") for p in seedforms.responses_body(body)["input"][0]["content"]]
    assert kinds == ["input_text", "input_image", "input_text", "input_audio", "input_text"]


def test_gemini_body_alt_and_stream():
    body, sse = seedforms.gemini_body(seed.GEMINI_STREAM.json(), None)
    assert sse is True and "alt" not in body and "stream" not in body
    assert seedforms.gemini_body({"contents": []}, "sse")[1] is True
    assert seedforms.gemini_body({"contents": []}, None)[1] is False


def test_image_edit_bare_base64_becomes_a_data_url():
    out = seedforms.image_edit_json(seed.IMAGE_EDIT.json())
    assert "image" not in out and "stream" not in out
    assert out["images"][0]["image_url"].startswith("data:image/png;base64,iVBOR")


@pytest.mark.parametrize(("fields", "model", "seconds", "size"), [
    ({"duration": 5, "resolution": "480p", "fps": 30}, "sora-2", "8", "1280x720"),
    ({"duration": 4}, "sora-2", "4", None),
    ({"duration": 13}, "sora-2", "12", None),
    ({"resolution": "1080p"}, "sora-2-pro", None, "1792x1024"),
    ({"resolution": "1080p"}, "sora-2", None, "1280x720"),
    ({"duration": 5, "seconds": "4", "resolution": "720p", "size": "720x1280"}, "sora-2", "4", "720x1280"),
    ({"duration": "8"}, "sora-2", "8", None),  # multipart form fields arrive as strings
])
def test_video_fields(fields, model, seconds, size):
    out = seedforms.video_fields(fields, model)
    assert out.get("seconds") == seconds and out.get("size") == size
    assert not {"duration", "resolution", "fps"} & set(out)


@pytest.mark.parametrize(("call", "param"), [
    (lambda: seedforms.video_fields({"duration": 0}), "duration"),
    (lambda: seedforms.video_fields({"duration": True}), "duration"),
    (lambda: seedforms.video_fields({"resolution": "4k"}), "resolution"),
    (lambda: seedforms.video_fields({"resolution": ["480p"]}), "resolution"),
    (lambda: seedforms.video_fields({"fps": 0}), "fps"),
    (lambda: seedforms.image_edit_json({"image": "not an image"}), "image"),
    (lambda: seedforms.image_edit_json({"image": 5}), "image"),
    (lambda: seedforms.image_edit_json({"image": "iVBORw0K", "images": "x"}), "images"),
    (lambda: seedforms.responses_body({"tools": [{"type": "function", "function": "calc"}]}), "tools[0].function"),
    (lambda: seedforms.gemini_body({"alt": 1}, None), "alt"),
])
def test_bad_values_name_their_field(call, param):
    with pytest.raises(seedforms.FormError) as err:
        call()
    assert err.value.param == param
