"""/ws/live connection slots: how many live connections a user (or key) and a tenant may hold.

Beside the consumer that takes them: the embedded default's single process counts in memory,
services mode counts in Redis so every server process shares one limit.
"""
from __future__ import annotations

import time

import redis
from django.conf import settings

from tenants.actors import Actor


def ws_slot_limits() -> dict[str, int]:
    """Open /ws/live connections allowed per user (or key) and per tenant."""
    return {"user": settings.AITRADER_WS_MAX_PER_USER,
            "tenant": settings.AITRADER_WS_MAX_PER_TENANT}


class LocalSlots:
    """Connection counts of this process: the embedded default has one server process."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def take(self, keys: dict[str, str], connection: str) -> bool:
        limits = ws_slot_limits()
        if any(self.counts.get(key, 0) >= limits[kind] for kind, key in keys.items()):
            return False
        for key in keys.values():
            self.counts[key] = self.counts.get(key, 0) + 1
        return True

    def refresh(self, keys: dict[str, str], connection: str) -> None:
        """Nothing expires in-process."""

    def release(self, keys: dict[str, str], connection: str) -> None:
        for key in keys.values():
            self.counts[key] = max(0, self.counts.get(key, 0) - 1)


# One sorted set per user and per tenant: member = connection id, score = when it lapses.
# Checking and taking happen in one script, so two processes cannot both take the last slot;
# a slot lapses unless its connection refreshes it, so a crashed process leaks nothing.
_TAKE_SCRIPT = """
local now = tonumber(ARGV[1])
local lapse = tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= tonumber(ARGV[3 + i]) then return 0 end
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + lapse, ARGV[3])
  redis.call('EXPIRE', key, lapse + 60)
end
return 1
"""


class RedisSlots:
    """Connection counts shared by every server process through Redis.

    Raw Redis rather than the Django cache: a counter in the cache cannot tell which process
    holds a slot, so a process that died would keep its slots forever; here each slot lapses
    after three missed heartbeats.
    """

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.take_script = self.client.register_script(_TAKE_SCRIPT)

    @staticmethod
    def _lapse() -> int:
        return 3 * settings.AITRADER_WS_HEARTBEAT_SECONDS

    @staticmethod
    def _now() -> float:
        return time.time()

    def take(self, keys: dict[str, str], connection: str) -> bool:
        limits = ws_slot_limits()
        redis_keys = [f"aitrader:ws:{key}" for key in keys.values()]
        args = [self._now(), self._lapse(), connection, *(limits[kind] for kind in keys)]
        return bool(self.take_script(keys=redis_keys, args=args))

    def refresh(self, keys: dict[str, str], connection: str) -> None:
        expires = self._now() + self._lapse()
        pipe = self.client.pipeline()
        for key in keys.values():
            pipe.zadd(f"aitrader:ws:{key}", {connection: expires}, xx=True)
        pipe.execute()

    def release(self, keys: dict[str, str], connection: str) -> None:
        pipe = self.client.pipeline()
        for key in keys.values():
            pipe.zrem(f"aitrader:ws:{key}", connection)
        pipe.execute()


_slots: dict[str, LocalSlots | RedisSlots] = {}


def ws_slots() -> LocalSlots | RedisSlots:
    """The slot counter: shared through Redis when REDIS_URL is set, else this process's."""
    url = settings.REDIS_URL
    if url not in _slots:
        _slots[url] = RedisSlots(url) if url else LocalSlots()
    return _slots[url]


def ws_slot_keys(actor: Actor) -> dict[str, str]:
    """The counters a live connection takes a slot in: its user (or key) and its tenant."""
    who = f"user:{actor.user.pk}" if actor.user is not None else f"key:{actor.api_key.pk}"
    return {"user": who, "tenant": f"tenant:{actor.tenant.pk}"}
