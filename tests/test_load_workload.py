"""Workloads: length distributions, JSONL conversations (both shapes, multi-turn with history), the
shipped sample, the mix of calls, and requested against received tokens through `topapi load`."""

from __future__ import annotations

import random
import statistics
from collections import Counter
from pathlib import Path

import orjson
import pytest
from load_support import run_load, start_mock, stop

from load.scenarios import SCENARIOS, chooser, weights
from load.workload import SAMPLE, Lengths, Workload, count_tokens, make_sample, read_conversations, turns


def test_lengths_parse_and_clip() -> None:
    assert Lengths.parse("550:150", "prompt-tokens") == Lengths(550, 150, 1, 1_000_000)
    assert Lengths.parse("100:50:80:120", "x") == Lengths(100, 50, 80, 120)
    rng = random.Random(1)
    drawn = [Lengths.parse("100:50:80:120", "x").draw(rng) for _ in range(2000)]
    assert min(drawn) == 80 and max(drawn) == 120
    for bad in ("", "x", "0", "5:-1", "1:2:3:4:5", "100:1:50:20"):
        with pytest.raises(ValueError, match="MEAN|MIN"):
            Lengths.parse(bad, "prompt-tokens")


def test_synthetic_prompts_follow_the_distribution() -> None:
    w = Workload(prompt="p", max_tokens=8, prompt_tokens="550:150", output_tokens="150:20", seed=3)
    reqs = [w.next()[0] for _ in range(1000)]
    lengths = [count_tokens(r.messages[0]["content"]) for r in reqs]
    assert abs(statistics.mean(lengths) - 550) < 15 and abs(statistics.pstdev(lengths) - 150) < 15
    outs = [r.max_tokens for r in reqs]
    assert abs(statistics.mean(outs) - 150) < 3 and abs(statistics.pstdev(outs) - 20) < 3
    # the mocks honour "Write N words": the prompt asks for exactly max_tokens
    assert all(r.messages[0]["content"].startswith(f"Write {r.max_tokens} words") for r in reqs)


def test_conversations_in_both_shapes_carry_their_history(tmp_path: Path) -> None:
    f = tmp_path / "c.jsonl"
    f.write_bytes(b"\n".join([
        orjson.dumps({"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Hi"},
                                        {"from": "gpt", "value": "Hello there friend"},
                                        {"from": "human", "value": "And?"}, {"from": "gpt", "value": "More."}]}),
        b"",
        orjson.dumps({"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]}),
        orjson.dumps({"conversations": [{"from": "gpt", "value": "no user turn: skipped"}]}),
    ]))
    convs = read_conversations(f)
    assert len(convs) == 2
    first = turns(convs[0], None, random.Random(0))
    assert len(first) == 2
    assert [m["role"] for m in first[1].messages] == ["system", "user", "assistant", "user"]
    assert first[1].messages[1]["content"] == "Hi" and first[1].messages[2]["content"] == "Hello there friend"
    assert first[1].messages[-1]["content"] == f"Write {first[1].max_tokens} words. And?"
    assert first[0].max_tokens == 16  # the recorded answer is shorter than the floor
    f.write_text('{"conversations": "x"}\n')
    with pytest.raises(ValueError, match="c.jsonl:1"):
        read_conversations(f)


def test_the_shipped_sample_is_what_the_generator_makes() -> None:
    lines = SAMPLE.read_bytes().splitlines()
    assert [orjson.loads(x) for x in lines] == make_sample()
    convs = read_conversations(SAMPLE)
    assert len(convs) == 50 and any(sum(m["role"] == "user" for m in c) > 1 for c in convs)


def test_mix_weights() -> None:
    assert weights(SCENARIOS["mixed"], "") == SCENARIOS["mixed"].users
    assert weights(SCENARIOS["chat"], "chat-stream=3,chat=1") == {"ChatStreamUser": 3.0, "ChatUser": 1.0}
    for bad in ("nope=1", "chat=x", "chat=0", "chat=-1"):
        with pytest.raises(ValueError, match="--mix"):
            weights(SCENARIOS["chat"], bad)
    pick = chooser({"ChatStreamUser": 3, "ChatUser": 1, "ImageUser": 0}, random.Random(5))
    counts = Counter(pick() for _ in range(8000))
    assert set(counts) == {"ChatStreamUser", "ChatUser"} and abs(counts["ChatStreamUser"] / 8000 - 0.75) < 0.02


@pytest.mark.slow
def test_requested_tokens_are_received_through_a_run(tmp_path: Path) -> None:
    proc, root = start_mock("openai")
    try:
        shaped = run_load(tmp_path / "shaped", "--base-url", root, "--api-key", "k", "--scenario", "chat",
                          "-u", "2", "-t", "3s", "--prompt-tokens", "200:50", "--output-tokens", "40:10:20:60")
        talk = run_load(tmp_path / "talk", "--base-url", root, "--api-key", "k", "--scenario", "chat-stream",
                        "-u", "2", "-t", "3s", "--conversations", "sample")
    finally:
        stop(proc)
    for run in (shaped, talk):
        assert run.code == 0, run.output
        t = run.summary["tokens"]
        assert t["requests"] > 10 and t["requested"] == t["received"] and t["short"] == 0, t
    assert 20 <= shaped.summary["tokens"]["requested_per_request"]["p50"] <= 60
