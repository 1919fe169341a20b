"""The demo stack answers the seed's chat request end to end and records its usage."""

from gateway_stack import stack  # noqa: F401

from specs import seed


def test_seed_chat_through_the_gateway(stack):  # noqa: F811
    with stack.client() as c:
        r = c.post(seed.CHAT.path, content=seed.CHAT.body.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert "6" in r.json()["choices"][0]["message"]["content"]
    stack.flush_usage()


def test_explicit_nulls_pass_through_the_gateway(stack):  # noqa: F811
    """What LiteLLM sends (issue 14): null for every optional field it does not use, on both dialects."""
    nulls = {"user": None, "tools": None, "tool_choice": None, "response_format": None, "stop": None}
    gemini = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "tools": None, "toolConfig": None,
              "systemInstruction": None, "generationConfig": {"temperature": None, "maxOutputTokens": None}}
    with stack.client() as c:
        chat = c.post("/v1/chat/completions", json={"model": "gpt-4.1-mini", "messages": [
            {"role": "user", "content": "hi"}], **nulls})
        resp = c.post("/v1/responses", json={"model": "gpt-4.1-mini", "input": "hi", "user": None, "tools": None,
                                             "text": None})
        gem = c.post("/v1beta/models/gemini-2.5-flash:generateContent", json=gemini)
    assert chat.status_code == 200, chat.text
    assert resp.status_code == 200 and resp.json().get("user") is None, resp.text
    assert gem.status_code == 200, gem.text
