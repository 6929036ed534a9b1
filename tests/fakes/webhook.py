"""A local stand-in for a Discord/Slack-style incoming webhook: records every POST.

Tests point a channel at `fake_webhook.url`, send through the real HTTP client, and read back
what arrived (body and headers) to check the payload and its HMAC signature. `fail_next`
makes the next answers errors, to exercise retries.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Received:
    """One POST the stand-in received."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeWebhook:
    """The server's state: what arrived and what to answer next."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    retry_after: str | None = None  # a Retry-After header sent with the failures

    def fail_next(self, *statuses: int, retry_after: str | None = None) -> None:
        self.failures.extend(statuses)
        self.retry_after = retry_after


def _handler(state: FakeWebhook) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802  (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.received.append(Received(self.path, {k.lower(): v for k, v in
                                                       self.headers.items()}, body))
            status = state.failures.pop(0) if state.failures else 204
            self.send_response(status)
            if status != 204 and state.retry_after is not None:
                self.send_header("Retry-After", state.retry_after)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    return Handler


@pytest.fixture
def fake_webhook():
    """A running stand-in on a free local port, stopped after the test."""
    state = FakeWebhook()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook/abc"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
