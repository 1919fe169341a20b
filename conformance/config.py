"""`topapi check --config topapi.toml` and `-H 'Name: value'`: every flag in a file for CI, secrets from the
environment.

The file holds the flags by their long names (`base-url` or `base_url`), with TOML types::

    base-url = "https://gateway.example.com"
    api-key = "${GATEWAY_KEY}"            # ${VAR}: read from the environment (an error when unset)
    profile = "auto"
    require = ["openai.chat", "gemini"]   # lists for comma-separated flags
    only = ["sse.*", "refusal.*"]
    timeout = 30
    [headers]                             # like -H, one per line
    x-portkey-provider = "openai"
    cf-access-client-secret = "${CF_SECRET}"

A flag on the command line wins over the file; the file wins over the built-in defaults (and the
TOPAPI_* variables). Values read from `${VAR}` are secrets: reproductions show `$VAR`, never the value.
"""

from __future__ import annotations

import argparse
import os
import re
import tomllib
from pathlib import Path
from typing import Any

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
LISTS = ("only", "require")  # flags that take comma-separated values


class ConfigError(ValueError):
    pass


def expand(value: str, secrets: dict[str, str]) -> str:
    """${VAR} from the environment; each value read is remembered as a secret (value -> "$VAR")."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in os.environ:
            raise ConfigError(f"${{{name}}} is used but the environment has no {name}")
        secrets[os.environ[name]] = f"${name}"
        return os.environ[name]

    return _VAR.sub(one, value)


def parse_header(text: str, secrets: dict[str, str]) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip() or " " in name.strip():
        raise ConfigError(f"-H {text!r}: expected 'Name: value'")
    return name.strip(), expand(value.strip(), secrets)


def load(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"--config {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config {path}: not valid TOML: {exc}") from None


def apply(parser: argparse.ArgumentParser, args: argparse.Namespace, data: dict[str, Any],
          secrets: dict[str, str]) -> None:
    """Set every flag the file names that the command line left at its default."""
    actions = {a.dest: a for a in parser._actions if a.dest not in ("help", "config")}
    for key, value in data.items():
        if key == "headers":
            if not isinstance(value, dict):
                raise ConfigError("[headers] must be a table of name = value")
            given = {h.split(":", 1)[0].strip().lower() for h in args.header or []}
            args.header = list(args.header or []) + [f"{k}: {v}" for k, v in value.items() if k.lower() not in given]
            continue
        dest = key.replace("-", "_")
        action = actions.get(dest)
        if action is None:
            raise ConfigError(f"unknown setting {key!r} (the settings are the flags of topapi check: "
                              f"{', '.join(sorted(d.replace('_', '-') for d in actions))})")
        if dest == "header":  # -H on the command line adds to the file's
            args.header = (list(value) if isinstance(value, list) else [value]) + list(args.header or [])
            continue
        if getattr(args, dest) != parser.get_default(dest):
            continue  # the command line said it
        if dest in LISTS and isinstance(value, list):
            value = ",".join(map(str, value))
        if isinstance(value, str):
            value = expand(value, secrets)
            if action.type is not None:
                value = action.type(value)
        setattr(args, dest, value)
