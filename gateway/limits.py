"""Per-key and per-user limits: quota, tokens per minute, requests per minute, requests in flight.

`admit()` runs before a request goes upstream, `settle()` after it finished (its usage known).
With Redis (gateway/shared.py) every worker and instance shares the counters: admission is ONE
Lua script call (quota against the shared spend, the key's tokens of the last minute, an rpm token,
a slot among the key's requests in flight, all checked and taken atomically), and settling is queued
for a flusher that sends everything queued since its last call in one script call (at low rates at
once, under load many requests per round trip). A user with a quota is charged before the last byte
of each answer (`charge`: written to Redis then, its reply not awaited): the client's next request, on
any instance, sees the spend. Keys without limits and users without a quota cost
no Redis call at all. Without Redis, or while it is away, the same rules hold per process.

Windows: rpm is a token bucket of `rpm` tokens refilled at rpm/60 per second; tpm a sliding minute
(this minute's tokens plus the last minute's, weighted by how much of it is still in the window).
Spend in Redis is kept at least at what the database knows (the seed the caller passes): a lost or
stale Redis value heals itself from the store.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import metrics
from .cache import KeyInfo, UserInfo
from .redis_pipe import Script
from .shared import ERRORS, Shared

log = logging.getLogger("topapi.gateway.limits")

SLOT_TTL_S = 3600  # a slot of a request whose instance died is freed after this long
BACKLOG_MAX = 100_000  # settle operations kept while Redis is away

# KEYS: rpm bucket (hash t, ts), tpm window (hash m, cur, prev), slots (zset), spend (string)
# ARGV: rpm, tpm, concurrency, request id, quota, spend seed, slot ttl ("" = no such limit)
ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local spend = 0
local quota = tonumber(ARGV[5])
if quota then
  spend = math.max(tonumber(redis.call('GET', KEYS[4]) or '0'), tonumber(ARGV[6]))
  redis.call('SET', KEYS[4], tostring(spend))
  if spend >= quota then return {1, 0, tostring(spend)} end
end
local tpm = tonumber(ARGV[2])
if tpm then
  local m = math.floor(now / 60)
  local h = redis.call('HMGET', KEYS[2], 'm', 'cur', 'prev')
  local hm, cur, prev = tonumber(h[1]) or m, tonumber(h[2]) or 0, tonumber(h[3]) or 0
  if hm == m - 1 then prev, cur = cur, 0 elseif hm < m - 1 then prev, cur = 0, 0 end
  local left = 1 - (now - m * 60) / 60
  if cur + prev * left >= tpm then
    local wait = 60 * (m + 1) - now
    if cur < tpm and prev > 0 then wait = math.min(wait, 60 * (left - (tpm - cur) / prev)) end
    return {2, math.ceil(math.max(wait, 0.001) * 1000), tostring(spend)}
  end
end
local rpm = tonumber(ARGV[1])
local tokens = 0
if rpm then
  local b = redis.call('HMGET', KEYS[1], 't', 'ts')
  tokens = tonumber(b[1]) or rpm
  tokens = math.min(rpm, tokens + math.max(0, now - (tonumber(b[2]) or now)) * rpm / 60)
  if tokens < 1 then return {3, math.ceil((1 - tokens) * 60000 / rpm), tostring(spend)} end
end
local conc = tonumber(ARGV[3])
if conc then
  local ttl = tonumber(ARGV[7])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - ttl)
  if redis.call('ZCARD', KEYS[3]) >= conc then return {4, 1000, tostring(spend)} end
  redis.call('ZADD', KEYS[3], now, ARGV[4])
  redis.call('EXPIRE', KEYS[3], ttl)
end
if rpm then
  redis.call('HSET', KEYS[1], 't', tostring(tokens - 1), 'ts', tostring(now))
  redis.call('EXPIRE', KEYS[1], 120)
end
return {0, 0, tostring(spend)}
"""

# ARGV: operations of 4 values each: S spend-key amount seed | T tpm-key tokens - | R slots-key request-id -
SETTLE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local m = math.floor(now / 60)
for i = 1, #ARGV, 4 do
  local op, key, a, b = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if op == 'S' then
    local spend = tonumber(redis.call('GET', key) or '0') + tonumber(a)
    redis.call('SET', key, tostring(math.max(spend, tonumber(b))))
  elseif op == 'T' then
    local h = redis.call('HMGET', key, 'm', 'cur')
    local hm, cur = tonumber(h[1]) or m, tonumber(h[2]) or 0
    if hm == m - 1 then redis.call('HSET', key, 'prev', cur, 'cur', 0)
    elseif hm < m - 1 then redis.call('HSET', key, 'prev', 0, 'cur', 0) end
    redis.call('HSET', key, 'm', m)
    redis.call('HINCRBY', key, 'cur', a)
    redis.call('EXPIRE', key, 180)
  elseif op == 'R' then
    redis.call('ZREM', key, a)
  end
end
return 1
"""


ADMIT_SCRIPT, SETTLE_SCRIPT = Script(ADMIT), Script(SETTLE)


@dataclass(slots=True, frozen=True)
class Refusal:
    status: int
    code: str
    message: str
    retry_after_s: float | None = None


def _refusal(kind: int, key: KeyInfo, wait_s: float) -> Refusal:
    retry = max(1.0, math.ceil(wait_s))
    if kind == 1:
        return Refusal(402, "insufficient_quota", "You exceeded your current quota")
    if kind == 2:
        return Refusal(429, "tokens_rate_limit_exceeded",
                       f"Rate limit reached: {key.tpm} tokens per minute for this key", retry)
    if kind == 3:
        return Refusal(429, "rate_limit_exceeded", f"Rate limit reached: {key.rpm} requests per minute for this key",
                       retry)
    return Refusal(429, "concurrency_limit_exceeded",
                   f"Too many requests in flight: {key.concurrency} at once for this key", retry)


class LocalLimits:
    """The same rules in one process: used without Redis and while it is away."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.buckets: dict[int, tuple[float, float]] = {}  # key id -> (tokens, at)
        self.windows: dict[int, list[float]] = {}  # key id -> [minute, tokens this minute, last minute]
        self.slots: dict[int, int] = {}  # key id -> requests in flight

    def admit(self, key: KeyInfo, user: UserInfo) -> Refusal | None:
        if user.quota is not None and user.used >= user.quota:
            return _refusal(1, key, 0)
        now = self.clock()
        if key.tpm:
            used, wait = self._window(key.id, now)
            if used >= key.tpm:
                return _refusal(2, key, wait)
        tokens = 0.0
        if key.rpm:
            tokens, at = self.buckets.get(key.id, (float(key.rpm), now))
            tokens = min(float(key.rpm), tokens + (now - at) * key.rpm / 60.0)
            if tokens < 1.0:
                self.buckets[key.id] = (tokens, now)
                return _refusal(3, key, (1.0 - tokens) * 60.0 / key.rpm)
        if key.concurrency:
            if self.slots.get(key.id, 0) >= key.concurrency:
                return _refusal(4, key, 1.0)
            self.slots[key.id] = self.slots.get(key.id, 0) + 1
        if key.rpm:
            self.buckets[key.id] = (tokens - 1.0, now)
        return None

    def _window(self, key_id: int, now: float) -> tuple[float, float]:
        minute = math.floor(now / 60)
        w = self.windows.get(key_id)
        if w is None:
            return 0.0, 0.0
        if w[0] == minute - 1:
            w[:] = [minute, 0.0, w[1]]
        elif w[0] < minute - 1:
            w[:] = [minute, 0.0, 0.0]
        return w[1] + w[2] * (1 - (now - minute * 60) / 60), 60 * (minute + 1) - now

    def add_tokens(self, key_id: int, tokens: int) -> None:
        now = self.clock()
        self._window(key_id, now)
        w = self.windows.setdefault(key_id, [math.floor(now / 60), 0.0, 0.0])
        w[1] += tokens

    def release(self, key_id: int) -> None:
        left = self.slots.get(key_id, 0) - 1
        if left > 0:
            self.slots[key_id] = left
        else:
            self.slots.pop(key_id, None)


class Limits:
    def __init__(self, shared: Shared | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.shared = shared
        self.local = LocalLimits(clock)
        self.degraded = 0  # admissions decided per process because Redis was away (the metric)
        self._slots: dict[str, bool] = {}  # request id holding a concurrency slot -> held in Redis (else here)
        self._ops: list[str] = []  # settle operations waiting for the flusher
        self._charged: set[str] = set()  # request ids whose spend `charge` has sent already
        self._flusher: asyncio.Task | None = None
        if shared is not None:
            shared.on_up.append(self._kick)
            shared.pipe.scripts += [ADMIT_SCRIPT, SETTLE_SCRIPT]

    @staticmethod
    def needed(key: KeyInfo, user: UserInfo) -> bool:
        return bool(key.rpm or key.tpm or key.concurrency or user.quota is not None)

    async def admit(self, key: KeyInfo, user: UserInfo, request_id: str) -> Refusal | None:
        """None when the request may go on (a concurrency slot is then held until `settle`)."""
        if not (key.rpm or key.tpm or key.concurrency or user.quota is not None):
            return None
        shared = self.shared
        if shared is not None and shared.up:
            try:
                kind, wait_ms, spend = await shared.pipe.evalsha(
                    ADMIT_SCRIPT,
                    [shared.key("rpm", key.id), shared.key("tpm", key.id), shared.key("slots", key.id),
                     shared.key("spend", user.id)],
                    [key.rpm or "", key.tpm or "", key.concurrency or "", request_id,
                     "" if user.quota is None else repr(user.quota), repr(user.used), SLOT_TTL_S])
            except ERRORS as exc:
                shared.failed(exc)
            else:
                if user.quota is not None:
                    user.used = max(user.used, float(spend))
                if kind:
                    return _refusal(int(kind), key, int(wait_ms) / 1000)
                if key.concurrency:
                    self._slots[request_id] = True
                return None
        if shared is not None:  # Redis is away: this process decides alone
            self.degraded += 1
            metrics.LIMITS_LOCAL.inc()
        refused = self.local.admit(key, user)
        if refused is None and key.concurrency:
            self._slots[request_id] = False
        return refused

    def charge(self, user: UserInfo, request_id: str, cost: float) -> None:
        """Send a request's spend to Redis now, before its answer ends (its `settle` then skips the spend).
        Not awaited: written to Redis's socket before the answer's last byte goes to the client, it is run
        before any request the client sends next, to any instance."""
        shared = self.shared
        if not cost or shared is None or not shared.up:
            return
        shared.pipe.send(SETTLE_SCRIPT, [], ["S", shared.key("spend", user.id), repr(cost), repr(user.used + cost)],
                         shared.failed)
        self._charged.add(request_id)

    def settle(self, key: KeyInfo | None, user: UserInfo | None, request_id: str, cost: float, tokens: int) -> None:
        """A request has finished (admitted or not): its spend and tokens count, a slot it held is free."""
        if key is None:
            return
        shared = self.shared
        in_redis = self._slots.pop(request_id, None)
        if in_redis is not None:
            if in_redis:
                self._ops += ("R", shared.key("slots", key.id), request_id, "")
            else:
                self.local.release(key.id)
        if key.tpm and tokens:
            self.local.add_tokens(key.id, tokens)
            if shared is not None:
                self._ops += ("T", shared.key("tpm", key.id), str(tokens), "")
        if request_id in self._charged:
            self._charged.discard(request_id)
        elif shared is not None and user is not None and cost and user.quota is not None:
            self._ops += ("S", shared.key("spend", user.id), repr(cost), repr(user.used))
        if self._ops:
            self._kick()

    def _kick(self) -> None:
        if self._ops and (self._flusher is None or self._flusher.done()) and self.shared.up:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        while self._ops and self.shared.up:
            ops, self._ops = self._ops, []
            try:
                await self.shared.pipe.evalsha(SETTLE_SCRIPT, [], ops)
            except ERRORS as exc:
                self.shared.failed(exc)
                self._ops = ops + self._ops  # sent again when Redis is back
                if len(self._ops) > BACKLOG_MAX * 4:
                    log.warning("limits: dropping %d settle operations kept while Redis is away",
                                len(self._ops) // 4 - BACKLOG_MAX)
                    self._ops = self._ops[-BACKLOG_MAX * 4:]

    async def stop(self) -> None:
        """Send what is queued (shutdown), if Redis answers."""
        if self._flusher is not None and not self._flusher.done():
            await asyncio.wait([self._flusher], timeout=2)
        if self._ops and self.shared is not None and self.shared.up:
            await asyncio.wait([asyncio.ensure_future(self._flush())], timeout=2)

    def state(self) -> dict[str, Any]:
        return {"redis": self.shared is not None and self.shared.up, "degraded_admissions": self.degraded}
