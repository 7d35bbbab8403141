"""Stop a request's upstream work when its client goes away before the answer starts.

Once the body is read, the ASGI ``receive`` channel has nothing more to say until the client
disconnects, so one waiter on it tells us when to cancel. Without it, a caller that gave up would keep
an upstream call (and its fallbacks) running until the request deadline, and be recorded as a timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.types import Receive

from gateway.errors import ApiError

T = TypeVar("T")


async def _until_disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def unless_client_leaves(receive: Receive, work: Awaitable[T]) -> T:
    """``await work``; if the client disconnects first, cancel it and raise a 499 ``ApiError``."""
    task = asyncio.current_task()
    assert task is not None
    watching = True
    watcher = asyncio.ensure_future(_until_disconnected(receive))

    def client_left(done: asyncio.Future[None]) -> None:
        if watching and not done.cancelled() and done.exception() is None:
            task.cancel()

    watcher.add_done_callback(client_left)
    try:
        return await work
    except asyncio.CancelledError:
        if watcher.done() and not watcher.cancelled() and watcher.exception() is None:
            task.uncancel()
            raise ApiError(499, "client_disconnected", "Client closed the connection before the answer") \
                from None
        raise
    finally:
        watching = False
        if not watcher.done():
            watcher.cancel()
