"""Rate limits: named budgets, counted in the shared cache in buckets whose keys are ours.

Each request that spends a budget is counted against every identity it carries: the API key
or signed-in user (the *principal*), its tenant, and the client IP (the web layer finds it
through the trusted proxy chain, so a forged X-Forwarded-For cannot pick a fresh bucket). The
cache is Redis in services mode, so every server process counts in the same buckets; there one
Lua script counts all of a request's buckets in a single round trip. The embedded default's
local-memory cache is counted through Django's cache API, in the same keys.

Buckets are fixed windows. A bucket's key is

    aitrader:rl:<budget>:<scope>:<period>s:<identity digest>:<window start>

(before the cache's own prefix and version): the budget's name, the scope (principal, tenant,
ip, user_ip, email, hook), the rate's period in seconds, the first 32 hex digits of the SHA-256 of
the identity (e-mail addresses are neither valid cache-key text nor wanted in the store in
clear) and the Unix time the window began, a multiple of the period. It lives until its window
ends, plus EXPIRY_MARGIN_SECONDS.

Budgets (per principal; a tenant gets four times that, an IP twice):

- read: AITRADER_RATE_LIMIT_REQUESTS_PER_MINUTE a minute, and a burst of
  AITRADER_RATE_LIMIT_BURST per 10 seconds (so a full minute cannot be spent in one second);
- control (every unsafe API method and dashboard page action): per minute;
- export: per hour; key_create: per hour;
- login: failed sign-ins (password, 2FA code, re-entered password) per e-mail + IP, and 4x that
  per IP whatever the e-mail, within a window;
- account_email: password resets and sign-up links per e-mail address (any IP), 4x per IP;
- unauthenticated: 401 answers per IP and minute; past it the IP gets 429 before any lookup;
- signal: alerts per inbound signal webhook (its token) and minute, and SIGNAL_IP_FACTOR times
  that per IP (TradingView posts every customer's alerts from a handful of addresses). The
  webhook view spends it itself, before looking the token up: only it knows the token.

A store that does not answer fails *closed* for budgets that guard money or secrets (control,
export, key creation, login: 503) and *open* for reads and 401 counting (a Redis blip must not
take the read API and the dashboards down with it; those are logged).
"""
from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.redis import RedisCache
from redis.commands.core import Script
from redis.exceptions import RedisError

from aitrader.errors import ServiceError
from tenants.actors import Actor

logger = logging.getLogger(__name__)

READ, CONTROL, EXPORT, KEY_CREATE, LOGIN, UNAUTHENTICATED = (
    "read", "control", "export", "key_create", "login", "unauthenticated")
ACCOUNT_EMAIL = "account_email"
SIGNAL = "signal"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# A tenant pools many keys and members; an IP may front a few of them.
SHARED_FACTORS = {"tenant": 4, "ip": 2}
BURST_SECONDS = 10
KEY_PREFIX = "aitrader:rl"
# A bucket outlives its window a little, so a store whose clock runs slightly ahead of ours
# does not drop a count the window still needs.
EXPIRY_MARGIN_SECONDS = 5
PERIOD_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Cache OPTIONS that Django's Redis cache takes for itself rather than passing to redis-py.
DJANGO_ONLY_OPTIONS = ("serializer", "pool_class", "parser_class")
# How a refusal names the bucket that is full.
SCOPE_LABELS = {"principal": "API key or user", "tenant": "workspace", "ip": "address",
                "user_ip": "account and address", "email": "e-mail address",
                "hook": "signal webhook"}
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


def parse_rate(rate: str) -> tuple[int, int]:
    """"50/10s" -> (50, 10): how many, and per how many seconds (units s, m, h, d)."""
    count, _, period = rate.partition("/")
    return int(count), int(period[:-1] or 1) * PERIOD_UNITS[period[-1]]


@dataclass(frozen=True)
class Budget:
    """How much of one kind of request each identity may make, and how a dead store acts."""

    name: str
    rates: tuple[str, ...]  # per principal, as "count/[n]unit" (see parse_rate)
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
        # Alerts place orders: fail closed.
        SIGNAL: Budget(SIGNAL, (f"{settings.AITRADER_RATE_LIMIT_SIGNALS_PER_MINUTE}/m",), True,
                       "signal alerts", {"ip": settings.AITRADER_RATE_LIMIT_SIGNAL_IP_FACTOR}),
    }
    return budgets[name]


# --- Keys -------------------------------------------------------------------------------------

def counter_key(budget_name: str, scope: str, identity: str, period: int,
                window_start: int) -> str:
    """The cache key of one bucket (the module docstring documents the scheme)."""
    digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
    return f"{KEY_PREFIX}:{budget_name}:{scope}:{period}s:{digest}:{window_start}"


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
    """One bucket: a budget's rate for one identity in one scope, in the window of `now`."""

    budget: str
    scope: str
    identity: str
    rate: str
    now: int

    @property
    def limit(self) -> int:
        return parse_rate(self.rate)[0]

    @property
    def period(self) -> int:
        return parse_rate(self.rate)[1]

    @property
    def window_start(self) -> int:
        return self.now - self.now % self.period

    @property
    def time_left(self) -> int:
        return self.window_start + self.period - self.now

    @property
    def lifetime(self) -> int:
        return self.time_left + EXPIRY_MARGIN_SECONDS

    @property
    def key(self) -> str:
        return counter_key(self.budget, self.scope, self.identity, self.period,
                           self.window_start)

    def usage(self, count: int) -> Usage:
        return Usage(count, self.limit, self.time_left)

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
    narrowest. One clock reading for all, so a request's buckets share their windows."""
    now = int(time.time())
    return [Counter(bucket.name, scope, identity, rate, now)
            for scope, identity in identities for rate in bucket.rates_for(scope)]


def _first_full(mode: str, counters: list[Counter]) -> tuple[Counter, Usage] | None:
    """Count (or, in CHECK mode, only read) the counters in order and stop at the first full
    one, so a key that is refused does not also drain its tenant's budget. Raises StoreDown."""
    cache = caches[settings.RATELIMIT_USE_CACHE]
    if isinstance(cache, RedisCache):
        return _first_full_in_redis(cache, mode, counters)
    return _first_full_in_cache(cache, mode, counters)


def _first_full_in_cache(cache: BaseCache, mode: str,
                         counters: list[Counter]) -> tuple[Counter, Usage] | None:
    """One cache call or two per counter: the embedded default's local-memory cache."""
    for counter in counters:
        try:
            found = counter.usage(_cache_count(cache, mode, counter))
        except (RedisError, OSError) as error:
            raise StoreDown from error
        if counter.is_full(found, mode):
            return counter, found
    return None


def _cache_count(cache: BaseCache, mode: str, counter: Counter) -> int:
    """The counter's count, after this request unless only checking: `add` opens a window,
    `incr` counts in it. Raises StoreDown when the cache can neither add nor count."""
    if mode == CHECK:
        return int(cache.get(counter.key, 0))
    if cache.add(counter.key, 1, counter.lifetime):
        return 1
    try:
        return cache.incr(counter.key)
    except ValueError:
        # The key lapsed between the two calls (this request opens the window), or the cache
        # answers neither (a memcached that is down): one more add tells which.
        if cache.add(counter.key, 1, counter.lifetime):
            return 1
        raise StoreDown from None


# Every counter of a request in one round trip: through the cache API it would take two
# commands per counter, about twelve for a read, which was most of a read's cost. KEYS are the
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
    """All counters in one Lua script, atomically, in the keys the cache path uses (with the
    cache's prefix and version), so both paths count in the same buckets."""
    keys = [cache.make_and_validate_key(counter.key) for counter in counters]
    args: list[str | int] = [mode]
    for counter in counters:
        args += [counter.limit, counter.lifetime]
    try:
        index, count = _count_script()(keys=keys, args=args)
    except (RedisError, OSError) as error:
        raise StoreDown from error
    if not index:
        return None
    counter = counters[index - 1]
    return counter, counter.usage(count)


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


def signal_spend(*, token: str, ip: str | None) -> None:
    """Count one inbound signal alert against its hook's token and the sender's IP."""
    spend(budget(SIGNAL), [("hook", f"hook:{token}"), ("ip", f"ip:{ip or 'unknown'}")])


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
