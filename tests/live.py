"""Helpers for /ws/live tests: a refused socket is accepted, then closed with its code."""
from __future__ import annotations

from channels.testing import WebsocketCommunicator

# How long a test waits for a frame it expects: generous, since CI shares two busy cores; a
# frame that arrives returns at once, so a passing test never waits this long.
WAIT_SECONDS = 30
ORIGIN = (b"origin", b"http://testserver")
HOST = (b"host", b"testserver")  # browsers always send it; the Origin must match it


def live_communicator(path: str = "/ws/live", key: str | None = None,
                      cookie: str | None = None, origin=ORIGIN) -> WebsocketCommunicator:
    """A client of the real ASGI application, with an API key or a session cookie."""
    from aitrader.asgi import application
    headers = [HOST, origin] if origin else [HOST]
    if key:
        headers.append((b"authorization", f"Bearer {key}".encode()))
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(application, path, headers=headers)


async def next_close_code(communicator: WebsocketCommunicator,
                          timeout: float = WAIT_SECONDS) -> int:
    """The code of the next close frame the server sends (events before it are skipped)."""
    while True:
        message = await communicator.receive_output(timeout)
        if message["type"] == "websocket.close":
            return message.get("code")


async def refusal_code(communicator: WebsocketCommunicator,
                       timeout: float = WAIT_SECONDS) -> int:
    """Connect, expecting a refusal; the close code it came with."""
    connected, _ = await communicator.connect(timeout)
    assert connected, "a refusal accepts the handshake so that its close code reaches the client"
    return await next_close_code(communicator, timeout)
