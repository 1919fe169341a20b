"""Deterministic text and the one tokenizer of the mocks.

Every number in `usage` comes from `count_tokens`, and every streamed text is cut into
pieces with `tokenize`, so what is streamed always adds up to what is billed.
"""

from __future__ import annotations

import hashlib
import random
import re
from typing import Any

import orjson

_WORD_LIST = (
    "the a model gateway relay stream token answer request upstream node market key route "
    "signal bright river quiet garden window paper orange silver morning planet story magic "
    "backpack journey forest lantern harbor meadow engine compass velvet thunder candle "
    "mirror pebble whisper falcon glacier canyon ember harvest island jungle kettle ladder "
    "marble nectar orbit prism quartz ribbon saddle timber umbrella valley willow yonder zephyr "
    "carries opens finds builds keeps turns shows brings holds makes follows gathers "
    "slowly gently quickly softly boldly and with under over through beside beyond"
)
WORDS = tuple(_WORD_LIST.split())

# a token: a run of letters/digits with its leading space, or one other character with its leading space
_TOKEN = re.compile(r"\s*[A-Za-z0-9_]+|\s*[^\sA-Za-z0-9_]|\s+$")


def tokenize(text: str) -> list[str]:
    """Pieces that join back to `text` exactly; len() is the token count."""
    return _TOKEN.findall(text)


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def canonical(obj: Any) -> bytes:
    """Canonical JSON: key order and whitespace do not change the bytes."""
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def digest(*parts: Any) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part if isinstance(part, bytes) else str(part).encode())
        h.update(b"\x00")
    return h.digest()


def rng(*parts: Any) -> random.Random:
    return random.Random(int.from_bytes(digest(*parts), "big"))


def unit(*parts: Any) -> float:
    """A deterministic number in [0, 1) from the parts."""
    return int.from_bytes(digest(*parts)[:8], "big") / 2**64


def words(r: random.Random, n: int) -> str:
    """`n` tokens of sentence-like text: capitalised, with commas and full stops."""
    out: list[str] = []
    count = 0
    sentence_len = r.randint(6, 14)
    since = 0
    while count < n:
        w = r.choice(WORDS)
        if since == 0:
            w = w.capitalize()
        out.append(w if not out else " " + w)
        count += 1
        since += 1
        if count < n and since >= sentence_len:
            out.append(".")
            count += 1
            since = 0
            sentence_len = r.randint(6, 14)
    return "".join(out)
