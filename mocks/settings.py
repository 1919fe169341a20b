"""Latency and fault settings of a mock server: CLI flags and `/_mock/config` fields share the names."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = ("status", "hang", "reset", "cut", "malformed", "slow")


class SettingsError(ValueError):
    """A setting has a wrong name, type or value; the message says which."""


@dataclass
class Fault:
    rate: float = 0.0  # share of requests that fail, 0..1
    kind: str = "status"
    status: int = 500  # for kind=status
    after_chunks: int = 3  # for cut, malformed, slow: chunks sent normally first
    hang_s: float = 30.0  # for hang: answer after this long (<= 0: never)
    slow_itl_ms: float = 500.0  # for slow: the ITL once the stream turns slow

    def validate(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise SettingsError("fault.rate must be between 0 and 1")
        if self.kind not in FAULT_KINDS:
            raise SettingsError(f"fault.kind must be one of {', '.join(FAULT_KINDS)}")
        if not 400 <= self.status <= 599:
            raise SettingsError("fault.status must be an HTTP error status (400..599)")
        if self.after_chunks < 0:
            raise SettingsError("fault.after_chunks must be >= 0")


@dataclass
class Settings:
    seed: int = 0
    node_name: str = "mock"
    ttft_ms: float = 0.0
    # TTFT grows with load: + this much for every other request in flight when one arrives
    # (a server that shares its capacity; capacity searches have a known maximum to find)
    ttft_per_stream_ms: float = 0.0
    itl_ms: float = 0.0
    jitter_ms: float = 0.0
    tokens_per_chunk: int = 1
    video_ms: float = 3000.0
    fault: Fault = field(default_factory=Fault)
    api_key: str = ""  # "": any non-empty key is accepted; else only this one (a relay in front must pass it on)

    def validate(self) -> None:
        for name in ("ttft_ms", "ttft_per_stream_ms", "itl_ms", "jitter_ms", "video_ms"):
            if getattr(self, name) < 0:
                raise SettingsError(f"{name} must be >= 0")
        if self.tokens_per_chunk < 1:
            raise SettingsError("tokens_per_chunk must be >= 1")
        self.fault.validate()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def updated(self, changes: dict[str, Any]) -> Settings:
        """A copy with `changes` applied (same names as the fields; `fault` may be partial)."""
        if not isinstance(changes, dict):
            raise SettingsError("settings must be a JSON object")
        current = self.to_dict()
        for key, value in changes.items():
            if key not in current:
                raise SettingsError(f"unknown setting {key!r}; known: {', '.join(current)}")
            if key == "fault":
                if value is None:
                    value = {}
                elif isinstance(value, Fault):  # MockServer(fault=Fault(...)) from Python
                    value = dataclasses.asdict(value)
                if not isinstance(value, dict):
                    raise SettingsError("fault must be an object")
                unknown = set(value) - set(current["fault"])
                if unknown:
                    raise SettingsError(f"unknown fault setting(s): {', '.join(sorted(unknown))}")
                current["fault"] = {**current["fault"], **{k: _coerce(Fault, k, v) for k, v in value.items()}}
            else:
                current[key] = _coerce(Settings, key, value)
        new = Settings(**{**current, "fault": Fault(**current["fault"])})
        new.validate()
        return new


def _coerce(cls: type, name: str, value: Any) -> Any:
    kind = {f.name: f.type for f in dataclasses.fields(cls)}[name]
    try:
        if kind in ("float", float):
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if kind in ("int", int):
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            return int(value)
        if kind in ("str", str):
            if not isinstance(value, str):
                raise TypeError
            return value
    except (TypeError, ValueError):
        raise SettingsError(f"{name} must be a {kind}, got {value!r}") from None
    return value
