"""Rate limits: named budgets, counted in the shared cache with django-ratelimit's buckets.

Each request that spends a budget is counted against every identity it carries: the API key
or signed-in user (the *principal*), its tenant, and the client IP (tenants.net.client_ip, so
a forged X-Forwarded-For cannot pick a fresh bucket). The cache is Redis in services mode, so
every server process counts in the same buckets; there one Lua script counts all of a
request's buckets in a single round trip. The embedded default's local-memory cache is counted
by django-ratelimit itself.

Budgets (per principal; a tenant gets four times that, an IP twice):

- read: AITRADER_RATE_LIMIT_REQUESTS_PER_MINUTE a minute, and a burst of
  AITRADER_RATE_LIMIT_BURST per 10 seconds (so a full minute cannot be spent in one second);
- control (every unsafe API method and dashboard page action): per minute;
- export: per hour; key_create: per hour;
- login: failed sign-ins (password, 2FA code, re-entered password) per e-mail + IP, and 4x that
  per IP whatever the e-mail, within a window;
- account_email: password resets and sign-up links per e-mail address (any IP), 4x per IP;
- unauthenticated: 401 answers per IP and minute; past it the IP gets 429 before any lookup.

A store that does not answer fails *closed* for budgets that guard money or secrets (control,
export, key creation, login: 503) and *open* for reads and 401 counting (a Redis blip must not
take the read API and the dashboards down with it; those are logged).
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest
from django_ratelimit import core as ratelimit_core
from django_ratelimit.core import get_usage
from redis.commands.core import Script
from redis.exceptions import RedisError
from rest_framework.throttling import BaseThrottle

from aitrader.errors import ServiceError
from tenants.actors import Actor
from tenants.net import client_ip

logger = logging.getLogger(__name__)

READ, CONTROL, EXPORT, KEY_CREATE, LOGIN, UNAUTHENTICATED = (
    "read", "control", "export", "key_create", "login", "unauthenticated")
ACCOUNT_EMAIL = "account_email"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# A tenant pools many keys and members; an IP may front a few of them.
SHARED_FACTORS = {"tenant": 4, "ip": 2}
BURST_SECONDS = 10
# Cache OPTIONS that Django's Redis cache takes for itself rather than passing to redis-py.
DJANGO_ONLY_OPTIONS = ("serializer", "pool_class", "parser_class")
# How a refusal names the bucket that is full.
SCOPE_LABELS = {"principal": "API key or user", "tenant": "workspace", "ip": "address",
                "user_ip": "account and address", "email": "e-mail address"}
# Unsafe API routes and dashboard page actions whose budget is not `control`.
ROUTE_BUDGETS: dict[tuple[str, str], str] = {
    ("api:export-trades", "GET"): EXPORT,
    ("api:audit-export", "GET"): EXPORT,
    ("api:api-key-list", "POST"): KEY_CREATE,
    ("dashboard:api_key_create", "POST"): KEY_CREATE,
}


class RateLimited(ServiceError):
    """A budget is spent; `retry_after` says in how many seconds its window ends."""

    status_code = 429
    code = "throttled"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class RateLimitUnavailable(ServiceError):
    """The rate-limit store did not answer and this budget fails closed."""

    status_code = 503
    code = "rate_limit_unavailable"
    retry_after = 5


@dataclass(frozen=True)
class Budget:
    """How much of one kind of request each identity may make, and how a dead store acts."""

    name: str
    rates: tuple[str, ...]  # per principal, in django-ratelimit's notation
    fail_closed: bool
    label: str
    # How many times the principal's rates a wider scope (tenant, IP) gets.
    factors: dict[str, int] = field(default_factory=lambda: SHARED_FACTORS)

    def rates_for(self, scope: str) -> tuple[str, ...]:
        """The principal's rates, scaled for a wider scope."""
        factor = self.factors.get(scope, 1)
        return tuple(_scaled(rate, factor) for rate in self.rates)


def _scaled(rate: str, factor: int) -> str:
    count, _, period = rate.partition("/")
    return f"{int(count) * factor}/{period}"


def budget(name: str) -> Budget:
    """The budget `name` with today's settings (read at call time, so tests may lower them)."""
    per_minute = settings.AITRADER_RATE_LIMIT_REQUESTS_PER_MINUTE
    login_window = settings.AITRADER_RATE_LIMIT_LOGIN_WINDOW_MINUTES
    budgets = {
        READ: Budget(READ, (f"{per_minute}/m",
                            f"{settings.AITRADER_RATE_LIMIT_BURST}/{BURST_SECONDS}s"),
                     False, "read requests"),
        CONTROL: Budget(CONTROL, (f"{settings.AITRADER_RATE_LIMIT_CONTROL_PER_MINUTE}/m",),
                        True, "control actions"),
        EXPORT: Budget(EXPORT, (f"{settings.AITRADER_RATE_LIMIT_EXPORTS_PER_HOUR}/h",),
                       True, "exports"),
        KEY_CREATE: Budget(KEY_CREATE,
                           (f"{settings.AITRADER_RATE_LIMIT_KEY_CREATIONS_PER_HOUR}/h",),
                           True, "API key creations"),
        # An address trying many accounts (spraying) gets 4x one account's failures.
        LOGIN: Budget(LOGIN, (f"{settings.AITRADER_RATE_LIMIT_LOGIN_FAILURES}/{login_window}m",),
                      True, "failed sign-in attempts", {"ip": 4}),
        # Password resets and sign-up links: per e-mail address whatever the IP (a mailbox
        # cannot be flooded), and 4x that per IP whatever the address.
        ACCOUNT_EMAIL: Budget(
            ACCOUNT_EMAIL, (f"{settings.AITRADER_RATE_LIMIT_ACCOUNT_EMAILS_PER_HOUR}/h",), True,
            "account e-mails", {"ip": 4}),
        # Counted per IP only: the IP is the only identity a request without a credential has.
        UNAUTHENTICATED: Budget(
            UNAUTHENTICATED, (f"{settings.AITRADER_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE}/m",),
            False, "requests without a valid credential", {}),
    }
    return budgets[name]


# --- Counting ---------------------------------------------------------------------------------

SPEND, CHECK, COUNT = "spend", "check", "count"


@dataclass(frozen=True)
class Usage:
    """One bucket's state: `count` requests so far out of `limit`, window ends in `time_left`."""

    count: int
    limit: int
    time_left: int


@dataclass(frozen=True)
class Counter:
    """One bucket: a budget's rate for one identity in one scope."""

    group: str
    scope: str
    identity: str
    rate: str

    def is_full(self, usage: Usage, mode: str) -> bool:
        """Whether this usage refuses the request: past the limit once counted, at it when only
        checked, never when only counting."""
        if mode == SPEND:
            return usage.count > usage.limit
        return mode == CHECK and usage.count >= usage.limit


class StoreDown(Exception):
    """The rate-limit store did not answer."""


def _counters(bucket: Budget, identities: Iterable[tuple[str, str]]) -> list[Counter]:
    """Every bucket the identities use, principal first, so the first full one is the
    narrowest."""
    return [Counter(f"aitrader:{bucket.name}:{scope}", scope, identity, rate)
            for scope, identity in identities for rate in bucket.rates_for(scope)]


def _first_full(mode: str, counters: list[Counter]) -> tuple[Counter, Usage] | None:
    """Count (or, in CHECK mode, only read) the counters in order and stop at the first full
    one, so a key that is refused does not also drain its tenant's budget. Raises StoreDown."""
    cache = caches[settings.RATELIMIT_USE_CACHE]
    if isinstance(cache, RedisCache):
        return _first_full_in_redis(cache, mode, counters)
    return _first_full_in_cache(mode, counters)


def _first_full_in_cache(mode: str, counters: list[Counter]) -> tuple[Counter, Usage] | None:
    """One django-ratelimit call per counter: the embedded default's local-memory cache."""
    for counter in counters:
        try:
            usage = get_usage(None, group=counter.group, key=lambda _g, _r: counter.identity,
                              rate=counter.rate, increment=mode != CHECK)
        except (RedisError, OSError) as error:
            raise StoreDown from error
        # django-ratelimit reports a cache it could not read or write as limit 0.
        if usage is None or usage["limit"] == 0:
            raise StoreDown
        found = Usage(usage["count"], usage["limit"], usage["time_left"])
        if counter.is_full(found, mode):
            return counter, found
    return None


# Every counter of a request in one round trip: django-ratelimit would take three per counter
# (add, exists, incr), about twenty for a read, which was most of a read's cost. KEYS are the
# counters in order; ARGV is the mode, then each counter's limit and lifetime. Returns the
# 1-based index of the first full counter and its count, or {0, 0}.
_COUNT_SCRIPT = """
local mode = ARGV[1]
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 * i])
  local count
  if mode == 'check' then
    count = tonumber(redis.call('GET', key) or '0')
    if count >= limit then return {i, count} end
  else
    count = redis.call('INCR', key)
    if count == 1 then redis.call('EXPIRE', key, tonumber(ARGV[2 * i + 1])) end
    if mode == 'spend' and count > limit then return {i, count} end
  end
end
return {0, 0}
"""


def _first_full_in_redis(cache: RedisCache, mode: str,
                         counters: list[Counter]) -> tuple[Counter, Usage] | None:
    """All counters in one Lua script, atomically. The keys, windows and lifetimes are
    django-ratelimit's own, so both paths count in the same buckets."""
    keys, args, windows = [], [mode], []
    for counter in counters:
        limit, period = ratelimit_core._split_rate(counter.rate)
        window = ratelimit_core._get_window(counter.identity, period)
        raw_key = ratelimit_core._make_cache_key(counter.group, window, counter.rate,
                                                 counter.identity, ratelimit_core.ALL)
        keys.append(cache.make_and_validate_key(raw_key))
        args += [limit, period + ratelimit_core.EXPIRATION_FUDGE]
        windows.append((limit, window))
    try:
        index, count = _count_script()(keys=keys, args=args)
    except (RedisError, OSError) as error:
        raise StoreDown from error
    if not index:
        return None
    limit, window = windows[index - 1]
    return counters[index - 1], Usage(count, limit, window - int(time.time()))


_scripts: dict[str, Script] = {}


def _count_script() -> Script:
    """The counting script on a client of the rate-limit cache's Redis, made once per process
    and location. The first server, as Django's cache writes there; its socket options."""
    config = settings.CACHES[settings.RATELIMIT_USE_CACHE]
    location = re.split("[;,]", config["LOCATION"])[0]
    if location not in _scripts:
        options = {name: value for name, value in config.get("OPTIONS", {}).items()
                   if name not in DJANGO_ONLY_OPTIONS}
        client = redis.Redis.from_url(location, **options)
        _scripts[location] = client.register_script(_COUNT_SCRIPT)
    return _scripts[location]


def _store_down(bucket: Budget) -> None:
    if bucket.fail_closed:
        logger.error("rate-limit store unavailable: refusing %s", bucket.label)
        raise RateLimitUnavailable(
            f"The service cannot check its rate limits just now, so {bucket.label} are "
            "refused for safety; try again in a few seconds.")
    # Reads fail open on purpose: an outage of the counter must not take the read API down.
    logger.warning("rate-limit store unavailable: allowing %s unchecked", bucket.label)


def _refuse(bucket: Budget, scope: str, rate: str, usage: Usage) -> None:
    raise RateLimited(
        f"Too many {bucket.label} for this {SCOPE_LABELS[scope]} (limit {usage.limit} per "
        f"{_period_label(rate)}); try again in {max(1, usage.time_left)} s.",
        retry_after=usage.time_left)


def _period_label(rate: str) -> str:
    period = rate.partition("/")[2]
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    number, unit = period[:-1], units[period[-1]]
    return f"{number} {unit}" if number else unit[:-1]


def _evaluate(mode: str, bucket: Budget, identities: Iterable[tuple[str, str]]) -> None:
    """Count or check every bucket of `bucket` the identities use; raise as the mode asks."""
    if not settings.AITRADER_RATE_LIMIT_ENABLED:
        return
    try:
        full = _first_full(mode, _counters(bucket, identities))
    except StoreDown:
        if mode == COUNT:
            logger.warning("rate-limit store unavailable: %s not counted", bucket.label)
            return
        return _store_down(bucket)
    if full is not None:
        counter, usage = full
        _refuse(bucket, counter.scope, counter.rate, usage)


def spend(bucket: Budget, identities: Iterable[tuple[str, str]]) -> None:
    """Count one request against each (scope, identity); raise RateLimited past a limit.

    The first bucket past its limit stops the rest, so a key that is refused does not also
    drain its tenant's budget.
    """
    _evaluate(SPEND, bucket, identities)


def check(bucket: Budget, identities: Iterable[tuple[str, str]]) -> None:
    """Raise RateLimited if any bucket is already full, without counting this request
    (for budgets that count failures, not attempts)."""
    _evaluate(CHECK, bucket, identities)


def count(bucket: Budget, identities: Iterable[tuple[str, str]]) -> None:
    """Record one event (a failure, a 401) without refusing anything now."""
    _evaluate(COUNT, bucket, identities)


# --- Who is asking ----------------------------------------------------------------------------

def request_ip(request: HttpRequest) -> str:
    """The client IP as the trusted proxy chain reports it."""
    return client_ip(request.META) or "unknown"


def actor_identities(actor: Actor | None, ip: str) -> list[tuple[str, str]]:
    """(scope, identity) pairs of an API or page caller: principal, tenant, then IP."""
    identities = []
    if actor is not None and actor.api_key is not None:
        identities.append(("principal", f"key:{actor.api_key.pk}"))
    elif actor is not None and actor.user is not None:
        identities.append(("principal", f"user:{actor.user.pk}"))
    if actor is not None and actor.tenant is not None:
        identities.append(("tenant", f"tenant:{actor.tenant.pk}"))
    identities.append(("ip", f"ip:{ip}"))
    return identities


def login_identities(username: str, ip: str | None) -> list[tuple[str, str]]:
    """Failed sign-ins count per e-mail + IP (5 in 15 min by default) and per IP (spraying)."""
    ip = ip or "unknown"
    return [("user_ip", f"{(username or '').strip().lower()}|{ip}"), ("ip", f"ip:{ip}")]


def account_email_identities(email: str, ip: str | None) -> list[tuple[str, str]]:
    """An account page that sends mail counts per address (any IP) and per IP (any address)."""
    return [("email", f"email:{(email or '').strip().lower()}"), ("ip", f"ip:{ip or 'unknown'}")]


def account_email_spend(*, email: str, ip: str | None) -> None:
    """Count one e-mail-sending request (password reset, sign-up); RateLimited past a limit."""
    spend(budget(ACCOUNT_EMAIL), account_email_identities(email, ip))


def route_budget(view_name: str | None, method: str, *, api: bool) -> str | None:
    """The budget a request spends: listed routes first, then reads vs control for the API and
    dashboard page actions; None for pages that are not rate limited."""
    listed = ROUTE_BUDGETS.get((view_name or "", method))
    if listed is not None:
        return listed
    if api:
        return READ if method in SAFE_METHODS else CONTROL
    if (view_name or "").startswith("dashboard:") and method not in SAFE_METHODS:
        return CONTROL
    return None


# --- Login failures (sign-in, 2FA step, re-entered passwords) -------------------------------

def login_attempt_check(*, username: str, ip: str | None) -> None:
    """Refuse a sign-in attempt while this e-mail + IP (or this IP) has too many failures."""
    check(budget(LOGIN), login_identities(username, ip))


def login_failure_count(*, username: str, ip: str | None) -> None:
    """Count one failed sign-in (or 2FA code, or re-entered password)."""
    count(budget(LOGIN), login_identities(username, ip))


# --- The API: a DRF throttle that spends the request's budget ---------------------------------

class ApiRateLimit(BaseThrottle):
    """Spends the API request's budget (read, control, export or key creation) for its key
    or user, tenant and IP. Runs after authentication, so the key is known, not guessed."""

    def allow_request(self, request, view) -> bool:
        match = getattr(request, "resolver_match", None)
        name = route_budget(match.view_name if match else None, request.method, api=True)
        actor = request.auth if isinstance(request.auth, Actor) else None
        spend(budget(name), actor_identities(actor, request_ip(request)))
        return True


# --- /ws/live connection slots ------------------------------------------------------------------

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
