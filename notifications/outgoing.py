"""The one place that sends outgoing-channel messages: signed webhooks over HTTP and e-mail.

Like `transport` for Telegram, nothing here raises an outside system's error: a send answers
a SendResult saying whether it went, may be retried (and when), or is final. A webhook URL is
a tenant's input, so it is checked twice: when it is saved (https, no credentials, no private
address literal) and on every send (the address actually connected to must be public), and
redirects are never followed; otherwise a tenant could make the server call its own network.
A Discord or Slack webhook URL works as a credential, so no log line carries one.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import smtplib
import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.utils import parseaddr
from urllib.parse import SplitResult, urlsplit

import certifi
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email

from aitrader.errors import ValidationFailed

logger = logging.getLogger(__name__)

MAX_URL_LENGTH = 500  # a webhook URL, kept in the channel's vault entry (not on its row)
MAX_EMAIL_LENGTH = 254
CONNECT_AND_READ_TIMEOUT = 5.0  # seconds; a slow receiver is retried, it does not hold a worker
MAX_RETRY_AFTER_SECONDS = 600
SIGNATURE_HEADER = "X-Aitrader-Signature"
TIMESTAMP_HEADER = "X-Aitrader-Timestamp"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


@dataclass(frozen=True)
class SendResult:
    """What one send did: `ok`, or retry (after `retry_after` seconds if the receiver said),
    or `final` (a retry cannot help: 4xx, redirect, refused address)."""

    ok: bool
    final: bool = False
    retry_after: float | None = None
    error: str = ""


# --- Validation ------------------------------------------------------------------------------


def email_cleaned(value: str) -> str:
    """A single e-mail address, lower-cased; ValidationFailed (field `target`) otherwise."""
    address = (value or "").strip().lower()
    if len(address) > MAX_EMAIL_LENGTH or parseaddr(address)[1] != address:
        raise ValidationFailed("Enter one e-mail address.", field="target")
    try:
        validate_email(address)
    except ValidationError:
        raise ValidationFailed("Enter one e-mail address.", field="target") from None
    return address


def webhook_url_cleaned(value: str) -> str:
    """An https:// URL to a public host (http://127.0.0.1 too where loopback is allowed);
    ValidationFailed (field `target`) otherwise. The message never echoes the URL."""
    url = (value or "").strip()
    if not url or len(url) > MAX_URL_LENGTH or not url.isprintable() or " " in url:
        raise ValidationFailed(f"Enter the webhook's URL (at most {MAX_URL_LENGTH} "
                               f"characters).", field="target")
    parts = urlsplit(url)
    problem = _url_problem(parts)
    if problem:
        raise ValidationFailed(f"That webhook URL cannot be used: {problem}.", field="target")
    return url


def _url_problem(parts: SplitResult) -> str | None:
    try:
        port = parts.port  # raises on a port out of range or not a number
    except ValueError:
        return "its port is not valid"
    host = parts.hostname or ""
    if not host or port == 0:
        return "it names no host"
    if parts.username is not None or parts.password is not None:
        return "it must not carry a user name or password"
    if parts.scheme == "http" and _loopback_allowed() and host in LOOPBACK_NAMES:
        return None
    if parts.scheme != "https":
        return "it must start with https://"
    literal = _ip_literal(host)
    if literal is not None and not literal.is_global:
        return "it points at a private or local address"
    return None


def _loopback_allowed() -> bool:
    return bool(settings.AITRADER_WEBHOOK_ALLOW_LOOPBACK)


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _address_allowed(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    return ip.is_global or (_loopback_allowed() and ip.is_loopback)


class AddressRefused(OSError):
    """The webhook's host resolved to a private or local address (an OSError, so urllib
    hands it back wrapped in a URLError like any connection failure)."""


def _checked_connection(address, *args, **kwargs) -> socket.socket:
    # The address actually connected to is checked, before TLS or a byte of HTTP: DNS that
    # answers a public address at save time and a private one now (rebinding) gets nowhere.
    sock = socket.create_connection(address, *args, **kwargs)
    if not _address_allowed(sock.getpeername()[0]):
        sock.close()
        raise AddressRefused("webhook address not allowed (private or local)")
    return sock


class _CheckedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _checked_connection


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _checked_connection


class _CheckedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_CheckedHTTPConnection, req)


class _CheckedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_CheckedHTTPSConnection, req, context=self._context)


# --- Webhooks --------------------------------------------------------------------------------


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of `<timestamp>.<body>` under the channel's secret. The
    timestamp is signed too, so a receiver that refuses old timestamps refuses replays."""
    signed = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def webhook_body(payload: dict) -> bytes:
    """The JSON body exactly as it is signed and sent."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect could lead anywhere, the server's own network included: it is an error.
    def redirect_request(self, *args, **kwargs):
        return None


@functools.lru_cache(maxsize=1)
def _opener() -> urllib.request.OpenerDirector:
    # No proxy from the environment: the connected address must be the webhook's own.
    context = ssl.create_default_context(cafile=certifi.where())
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects,
                                       _CheckedHTTPHandler,
                                       _CheckedHTTPSHandler(context=context))


def webhook_post(*, url: str, secret: str, payload: dict, timestamp: int) -> SendResult:
    """POST `payload` to `url`, signed; 2xx sent, 429 and 5xx and network errors retried,
    any other answer final."""
    if _url_problem(urlsplit(url)) is not None:  # the rules may have tightened since
        return SendResult(ok=False, final=True, error="webhook address not allowed")
    body = webhook_body(payload)
    stamp = str(timestamp)
    # https only (http to loopback where allowed): checked by _url_problem just above.
    request = urllib.request.Request(url, data=body, method="POST", headers={  # noqa: S310
        "Content-Type": "application/json", "User-Agent": "aitrader-webhook/1",
        TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: signature(secret, stamp, body)})
    try:
        with _opener().open(request, timeout=CONNECT_AND_READ_TIMEOUT) as response:
            response.read(1024)
            return SendResult(ok=True)
    except urllib.error.HTTPError as error:
        return _http_error(error)
    except (urllib.error.URLError, OSError) as error:  # refused, reset, timeout, TLS
        reason = getattr(error, "reason", error)
        if isinstance(reason, AddressRefused):
            return SendResult(ok=False, final=True, error=str(reason))
        return SendResult(ok=False, error=f"network: {type(reason).__name__}")


def _http_error(error: urllib.error.HTTPError) -> SendResult:
    status = error.code
    if status == 429:
        return SendResult(ok=False, retry_after=_retry_after(error.headers.get("Retry-After")),
                          error="HTTP 429 (rate limited)")
    if status >= 500:
        return SendResult(ok=False, error=f"HTTP {status}")
    return SendResult(ok=False, final=True, error=f"HTTP {status} (final)")


def _retry_after(value: str | None) -> float | None:
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER_SECONDS) if value else None
    except ValueError:
        return None  # an HTTP date: use our own backoff


# --- E-mail ----------------------------------------------------------------------------------


def email_send(*, to: str, subject: str, body: str) -> SendResult:
    """Send one plain-text e-mail; a refused recipient is final, a mail server that is down
    or slow is retried."""
    try:
        send_mail(subject, body, None, [to])
    except smtplib.SMTPRecipientsRefused:
        return SendResult(ok=False, final=True, error="mail server refused the address")
    except (OSError, smtplib.SMTPException) as error:
        logger.warning("channel e-mail not sent: %s", error.__class__.__name__)
        return SendResult(ok=False, error=f"mail: {error.__class__.__name__}")
    return SendResult(ok=True)
