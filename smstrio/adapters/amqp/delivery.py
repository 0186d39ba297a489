"""Deliveries handed to a synchronous consumer at once, instead of through an asyncio task each.

aiormq's channel reader, per delivered message, reads three frames (``Basic.Deliver``, the
content header, the body), copies the body through a ``BytesIO`` and starts an asyncio task
to run the consumer callback, even one that only puts the message somewhere. Under
trio-asyncio each of those tasks costs a pass of the loop. :func:`deliver_directly` replaces
that step on one channel: a consumer registered as a plain function (aiormq keeps it wrapped,
with the function as ``__wrapped__``) is called right there, in the reader; any other consumer
still gets its task. A body in one frame (any body under the frame size, 128 KiB by default)
is taken as it is, without the copy.

It uses aiormq's channel internals (the reader's ``_on_deliver_frame``, ``_get_frame``,
``consumers``), so it applies only to the aiormq series that ``frames`` is pinned to; with any
other, :func:`deliver_directly` leaves the channel as it is (and the consumer runs in a task).
The callback runs inside aiormq's reader: like every consumer callback under trio-asyncio, it
may call only synchronous Trio APIs (``send_nowait``), and it must not raise.
"""

from __future__ import annotations

import inspect
import types
from typing import Any

import aiormq
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from smstrio.adapters.amqp.frames import SUPPORTED


def deliver_directly(channel: aiormq.abc.AbstractChannel) -> None:
    """Call ``channel``'s synchronous consumers in its reader, without a task per message."""
    if SUPPORTED and isinstance(channel, aiormq.Channel):
        channel._on_deliver_frame = types.MethodType(_on_deliver_frame, channel)  # type: ignore[method-assign]


async def _on_deliver_frame(self: aiormq.Channel, frame: spec.Basic.Deliver) -> None:
    header = await _next(self, ContentHeader)
    assert isinstance(header, ContentHeader)
    size, parts, got = header.body_size or 0, [], 0
    while got < size:  # one frame, unless the body is larger than the frame size
        content = await _next(self, ContentBody)
        assert isinstance(content, ContentBody)
        parts.append(content.value)
        got += len(content.value)
    body = parts[0] if len(parts) == 1 else b"".join(parts)
    consumer = self.consumers.get(frame.consumer_tag or "")
    if consumer is None:
        return
    message = aiormq.abc.DeliveredMessage(delivery=frame, header=header, body=body, channel=self)
    direct = getattr(consumer, "__wrapped__", None)
    if direct is not None and not inspect.iscoroutinefunction(direct):
        direct(message)
        return
    task = self.create_task(consumer(message))
    task.add_done_callback(self._on_consumer_done)


async def _next(channel: aiormq.Channel, kind: type[Any]) -> Any:
    frame = await channel._get_frame()
    if not isinstance(frame, kind):
        raise ValueError(f"Unexpected frame {frame!r} instead of {kind.__name__}", frame)
    return frame
