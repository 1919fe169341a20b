"""specs.seed must hold the guide's requests byte for byte."""

import re

import pytest
from conftest import SEED

from specs import seed


def guide_blocks() -> list[str]:
    return re.findall(r"```\n(.*?)```", SEED.read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("req", seed.ALL, ids=lambda r: r.name)
def test_request_is_in_the_guide_as_written(req):
    blocks = [b for b in guide_blocks() if ("{BASE}" + req.path + "\n" + req.method) in b]
    assert blocks, f"{req.method} {req.path} is not in the guide"
    if req.body is not None:
        assert any(req.body in b for b in blocks), f"body of {req.name} differs from the guide"
        assert isinstance(req.json(), dict)


def test_every_guide_request_is_captured():
    paths = set()
    for b in guide_blocks():
        paths.update(re.findall(r"\{BASE\}(\S+)", b))
    assert paths == {r.path for r in seed.ALL}
    assert len(seed.ALL) == 15
