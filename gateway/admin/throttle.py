"""Login throttling: wrong passwords in a row, counted per account and per client address.

The first `free` failures of an account (`free_address` of an address: one office, many people)
cost nothing extra; after that each attempt must wait a delay that doubles with every further failure
(1 s, 2 s, 4 s ... at most `max_delay_s`). An attempt inside the delay is refused with 429 and
Retry-After before the password is looked at (no scrypt work for the attacker's volume). A correct
password clears both counts; a count also lapses `forget_s` after its last failure.

With Redis every worker and instance shares the counts (an attacker gains nothing from a load
balancer); without it, or while it is away, each process counts for itself.

Loopback addresses are counted per account only: behind a reverse proxy on the same machine every
client comes from 127.0.0.1, and one attacker would lock everybody out.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from .. import metrics
from ..shared import ERRORS, Shared

# KEYS: counter hash (n, last). ARGV: 'check' | 'fail' | 'clear', free, max delay, forget s
SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
if ARGV[1] == 'clear' then redis.call('DEL', KEYS[1]) return '0' end
local h = redis.call('HMGET', KEYS[1], 'n', 'last')
local n, last = tonumber(h[1]) or 0, tonumber(h[2]) or 0
if ARGV[1] == 'fail' then
  n = n + 1
  redis.call('HSET', KEYS[1], 'n', n, 'last', tostring(now))
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
  return '0'
end
local over = n - tonumber(ARGV[2])
if over < 0 then return '0' end
local wait = last + math.min(tonumber(ARGV[3]), 2 ^ over) - now
return tostring(math.max(wait, 0))
"""


def _counted(address: str) -> bool:
    try:
        return not ipaddress.ip_address(address).is_loopback
    except ValueError:  # no address (a test client, a Unix socket): per account only
        return False


@dataclass
class _Count:
    n: int = 0
    last: float = 0.0


@dataclass
class LoginThrottle:
    shared: Shared | None = None
    free: int = 5  # failures of one account before delays start
    free_address: int = 20  # failures from one address before delays start
    max_delay_s: float = 300.0
    forget_s: float = 900.0
    max_entries: int = 100_000  # per-process memory bound (oldest forgotten first)
    clock: object = time.time
    _local: OrderedDict[str, _Count] = field(default_factory=OrderedDict)

    def __post_init__(self) -> None:
        self._script = self.shared.redis.register_script(SCRIPT) if self.shared is not None else None

    async def wait_s(self, address: str, username: str | None) -> float:
        """Seconds this attempt must still wait (0: go ahead). The address alone before the body is read."""
        wait = await self._ask("check", f"a:{address}", self.free_address) if _counted(address) else 0.0
        if username is not None and wait <= 0:
            wait = await self._ask("check", f"u:{username.lower()}", self.free)
        if wait > 0:
            metrics.LOGIN_THROTTLED.labels("address" if username is None else "account").inc()
        return wait

    async def failed(self, address: str, username: str) -> None:
        if _counted(address):
            await self._ask("fail", f"a:{address}", 0)
        await self._ask("fail", f"u:{username.lower()}", 0)

    async def succeeded(self, address: str, username: str) -> None:
        if _counted(address):
            await self._ask("clear", f"a:{address}", 0)
        await self._ask("clear", f"u:{username.lower()}", 0)

    async def _ask(self, op: str, name: str, free: int) -> float:
        shared = self.shared
        if shared is not None and shared.up:
            try:
                answer = await self._script(keys=[shared.key("login", name)],
                                            args=[op, free, self.max_delay_s, int(self.forget_s)])
                return float(answer)
            except ERRORS as exc:
                shared.failed(exc)
        return self._local_ask(op, name, free)

    def _local_ask(self, op: str, name: str, free: int) -> float:
        now = self.clock()
        count = self._local.get(name)
        if count is not None and now - count.last > self.forget_s:
            del self._local[name]
            count = None
        if op == "clear":
            self._local.pop(name, None)
            return 0.0
        if op == "fail":
            if count is None:
                count = self._local[name] = _Count()
                if len(self._local) > self.max_entries:
                    self._local.popitem(last=False)
            count.n += 1
            count.last = now
            self._local.move_to_end(name)
            return 0.0
        if count is None or count.n < free:
            return 0.0
        return max(0.0, count.last + min(self.max_delay_s, 2.0 ** (count.n - free)) - now)
