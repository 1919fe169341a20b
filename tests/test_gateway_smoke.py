"""The demo stack answers the seed's chat request end to end and records its usage."""

from gateway_stack import stack  # noqa: F401

from specs import seed


def test_seed_chat_through_the_gateway(stack):  # noqa: F811
    with stack.client() as c:
        r = c.post(seed.CHAT.path, content=seed.CHAT.body.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert "6" in r.json()["choices"][0]["message"]["content"]
    stack.flush_usage()
