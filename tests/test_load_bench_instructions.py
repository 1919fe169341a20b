"""load/bench/instructions.py: instructions per request under callgrind."""

from __future__ import annotations

import pytest

from load.bench import instructions

DUMP = """# callgrind format
version: 1
creator: callgrind-3.19.0
cmd:  python -m load.bench.relay
events: Ir
summary: 194125377
fl=(1) x.c
fn=(1) f
0 3
totals: 194125377
"""


def test_total_instructions_reads_the_totals_line() -> None:
    assert instructions.total_instructions(DUMP) == 194125377
    assert instructions.total_instructions("events: Ir\nsummary: 12\n") == 12
    with pytest.raises(ValueError, match="no totals line"):
        instructions.total_instructions("version: 1\nevents: Ir\n")


def test_table_compares_with_the_relay() -> None:
    text = instructions.table({"relay": 600_000.0, "gateway": 750_000.0})
    assert "| relay | 0.600 M | 1.00x |" in text
    assert "| gateway | 0.750 M | 1.25x |" in text
    assert "| gateway | 0.750 M | - |" in instructions.table({"gateway": 750_000.0})


@pytest.mark.parametrize("argv, message", [
    (["--targets", "relay,litellm"], "unknown --targets litellm"),
    (["--targets", ","], "unknown --targets (none)"),
    (["--requests", "0"], "--requests must be at least 1"),
])
def test_bad_arguments_are_refused(argv: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        instructions.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.skipif(not instructions.available(), reason="valgrind with callgrind_control is not installed")
def test_counts_the_relay_under_callgrind(tmp_path) -> None:
    """A short real run: the relay's count is in the hundreds of thousands per request (a count of 0
    would mean instrumentation never switched on; millions, that startup was counted)."""
    out = tmp_path / "instr.json"
    assert instructions.main(["--targets", "relay", "--requests", "20", "--warmup", "20", "--json", str(out)]) == 0
    import json

    per_request = json.loads(out.read_text())["instructions_per_request"]["relay"]
    assert 100_000 < per_request < 5_000_000, per_request
