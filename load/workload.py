"""Workloads that look like traffic: prompt and output lengths from distributions, or conversations
from a JSONL file, single- or multi-turn.

- `--prompt-tokens 550:150` and `--output-tokens 150:20` (MEAN[:STDEV[:MIN[:MAX]]], a normal
  distribution clipped to [MIN, MAX], MIN defaults to 1): each request gets a prompt of that many
  tokens (words of a small vocabulary: one token each for the mocks, about one for BPE
  tokenizers) and asks for that many output tokens twice over, as `max_tokens` and as "Write N
  words" in the prompt, which the mocks honour (so received = requested when the gateway
  relays faithfully).
- `--conversations FILE.jsonl`: one conversation per line, ShareGPT's shape
  `{"conversations": [{"from": "human", "value": ...}, {"from": "gpt", "value": ...}, ...]}` or
  OpenAI's `{"messages": [{"role": "user", "content": ...}, {"role": "assistant", ...}]}`
  (a `system` first message is kept). Each human turn is a request; the next one carries the
  history (the conversation's recorded answers, so the sizes a gateway sees are those of the
  real chat), and asks for as many tokens as the recorded answer has (`--output-tokens`
  overrides), as `max_tokens` and as "Write N words." before the turn's text. `--conversations sample` uses the generated sample shipped in load/data.
"""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

SAMPLE = Path(__file__).with_name("data") / "conversations.jsonl"
_TEXT = (
    "the gateway relays each request to an upstream node and streams every token back while the router "
    "keeps weights breakers and quotas in memory so that a busy market of models answers quickly under "
    "load with fair shares for users who send long prompts short questions code tables lists and stories"
)
VOCABULARY = tuple(_TEXT.split())
_TOKEN = re.compile(r"\s*[A-Za-z0-9_]+|\s*[^\sA-Za-z0-9_]")  # the mocks' tokenizer, for counting


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


@dataclass(frozen=True)
class Lengths:
    """A normal distribution of token counts, clipped to [low, high]."""

    mean: float
    stdev: float = 0.0
    low: int = 1
    high: int = 1_000_000

    @classmethod
    def parse(cls, text: str, what: str) -> Lengths:
        parts = text.split(":")
        try:
            nums = [float(p) for p in parts]
        except ValueError:
            raise ValueError(f"--{what}: {text!r} is not MEAN[:STDEV[:MIN[:MAX]]]") from None
        if not 1 <= len(nums) <= 4 or nums[0] < 1 or any(n < 0 for n in nums):
            raise ValueError(f"--{what}: {text!r} is not MEAN[:STDEV[:MIN[:MAX]]] with MEAN >= 1")
        low = int(nums[2]) if len(nums) > 2 else 1
        high = int(nums[3]) if len(nums) > 3 else 1_000_000
        if not 1 <= low <= high:
            raise ValueError(f"--{what}: want 1 <= MIN <= MAX")
        return cls(nums[0], nums[1] if len(nums) > 1 else 0.0, low, high)

    def draw(self, rng: random.Random) -> int:
        value = rng.gauss(self.mean, self.stdev) if self.stdev > 0 else self.mean
        return int(min(max(round(value), self.low), self.high))


@dataclass(frozen=True)
class Turn:
    """One request: the messages (history included) and the output tokens asked for."""

    messages: tuple[dict[str, str], ...]
    max_tokens: int
    answer: str | None = None  # the recorded answer, carried into the next turn's history


def filler(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(VOCABULARY) for _ in range(max(n, 0)))


def synthetic(prompt_len: int, output_len: int, rng: random.Random) -> Turn:
    """A prompt of `prompt_len` tokens that asks for `output_len` words."""
    head = f"Write {output_len} words about the following."
    text = head + " " + filler(rng, prompt_len - count_tokens(head))
    return Turn(({"role": "user", "content": text.strip()},), output_len)


def read_conversations(path: Path) -> list[list[dict[str, str]]]:
    """Conversations as lists of {"role", "content"}; lines that hold no user turn are skipped."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"{path}:{n}: not JSON ({exc})") from None
        msgs = _messages(obj)
        if msgs is None:
            raise ValueError(f'{path}:{n}: want {{"conversations": [{{"from", "value"}}, ...]}} '
                             f'or {{"messages": [{{"role", "content"}}, ...]}}')
        if any(m["role"] == "user" for m in msgs):
            out.append(msgs)
    if not out:
        raise ValueError(f"{path}: no conversation with a user turn")
    return out


_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant",
          "bard": "assistant", "model": "assistant", "system": "system"}


def _messages(obj: Any) -> list[dict[str, str]] | None:
    if not isinstance(obj, dict):
        return None
    raw = obj.get("conversations", obj.get("messages"))
    if not isinstance(raw, list):
        return None
    out = []
    for m in raw:
        if not isinstance(m, dict):
            return None
        role = _ROLES.get(str(m.get("from", m.get("role", ""))).lower())
        text = m.get("value", m.get("content"))
        if role is None or not isinstance(text, str):
            return None
        out.append({"role": role, "content": text})
    return out


def turns(conversation: list[dict[str, str]], output: Lengths | None, rng: random.Random) -> list[Turn]:
    """One Turn per user message, each with the history before it."""
    out = []
    history: list[dict[str, str]] = []
    for i, m in enumerate(conversation):
        if m["role"] != "user":
            history.append(m)
            continue
        answer = conversation[i + 1]["content"] if i + 1 < len(conversation) and \
            conversation[i + 1]["role"] == "assistant" else None
        asked = output.draw(rng) if output else max(count_tokens(answer or ""), 16)
        # the request's copy of the message asks for the length too (the mocks honour "Write N words");
        # the history keeps the message as recorded
        ask = {"role": "user", "content": f"Write {asked} words. {m['content']}"}
        out.append(Turn((*history, ask), asked, answer))
        history.append(m)
    return out


class Workload:
    """What each request asks: `next()` gives the turns of the next conversation (one for synthetic)."""

    def __init__(self, *, prompt: str, max_tokens: int, prompt_tokens: str = "", output_tokens: str = "",
                 conversations: str = "", seed: int | None = None) -> None:
        self.rng = random.Random(seed)
        self.prompt, self.max_tokens = prompt, max_tokens
        self.prompt_lengths = Lengths.parse(prompt_tokens, "prompt-tokens") if prompt_tokens else None
        self.output_lengths = Lengths.parse(output_tokens, "output-tokens") if output_tokens else None
        self.conversations = None
        if conversations:
            self.conversations = read_conversations(SAMPLE if conversations == "sample" else Path(conversations))
            self._order = itertools.cycle(self.rng.sample(range(len(self.conversations)), len(self.conversations)))

    @property
    def shaped(self) -> bool:
        return bool(self.prompt_lengths or self.output_lengths or self.conversations)

    def next(self) -> list[Turn]:
        if self.conversations is not None:
            return turns(self.conversations[next(self._order)], self.output_lengths, self.rng)
        if not self.shaped:
            return [Turn(({"role": "user", "content": self.prompt},), self.max_tokens)]
        out_len = self.output_lengths.draw(self.rng) if self.output_lengths else self.max_tokens
        if self.prompt_lengths is None:
            text = f"Write {out_len} words. {self.prompt}"
            return [Turn(({"role": "user", "content": text},), out_len)]
        return [synthetic(self.prompt_lengths.draw(self.rng), out_len, self.rng)]


# -- the shipped sample: `python -m load.workload --make-sample load/data/conversations.jsonl` ----------
_ASKS = ("Explain how {t} works, step by step.", "Write a short story about {t}.",
         "Summarise the following notes about {t}: {f}", "What are the trade-offs of {t}? {f}",
         "Translate this paragraph about {t} into plain English: {f}", "Write a Python function for {t}.",
         "Compare {t} with the alternatives in a table.", "Give me three ideas for {t}.")
_FOLLOW_UPS = ("Make it shorter.", "Can you give an example?", "Why is that?", "Now the same for {t}.",
               "Add error handling to it.", "Explain the second point in more detail: {f}")
_TOPICS = ("a rate limiter", "weighted round robin", "circuit breakers", "server-sent events", "token billing",
           "a video job queue", "prompt caching", "retry budgets", "API keys", "a model market")


def make_sample(n: int = 50, seed: int = 12) -> list[dict[str, Any]]:
    """ShareGPT-shaped conversations of 1-4 turns, prompt and answer lengths spread like chat traffic
    (log-normal: most short, a few long), built from our own templates and vocabulary."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        topic = rng.choice(_TOPICS)
        conv = []
        for turn in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
            template = rng.choice(_ASKS if turn == 0 else _FOLLOW_UPS)
            ask = template.format(t=rng.choice(_TOPICS) if turn else topic,
                                  f=filler(rng, int(rng.lognormvariate(4.0, 0.9))))
            answer = filler(rng, min(1500, int(rng.lognormvariate(4.8, 0.7)))).capitalize() + "."
            conv += [{"from": "human", "value": ask}, {"from": "gpt", "value": answer}]
        out.append({"id": f"sample-{len(out):03d}", "conversations": conv})
    return out


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] != ["--make-sample"] or len(sys.argv) != 3:
        sys.exit("usage: python -m load.workload --make-sample FILE.jsonl")
    Path(sys.argv[2]).write_bytes(b"".join(orjson.dumps(c) + b"\n" for c in make_sample()))
