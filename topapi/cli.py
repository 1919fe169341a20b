"""`topapi <part> ...`: dispatch to the part that owns the subcommand.

Each part exposes `register(subparsers)` in its own `cli` module, which adds its
subcommand and sets `func` on the parsed namespace. Parts are imported lazily so
that `topapi mock` does not pay for importing schemathesis or locust.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> module that owns it
PARTS = {
    "mock": "mocks.cli",
    "serve": "gateway.cli",
    "check": "conformance.cli",
    "load": "load.cli",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="topapi", description="Conformance and load testing for LLM API gateways.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in PARTS.items():
        if only is not None and name != only:
            sub.add_parser(name, help=f"({module})")
            continue
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                continue  # that part is not built yet
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in PARTS else None
    parser = build_parser(only=command)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
