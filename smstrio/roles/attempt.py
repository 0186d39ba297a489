"""What one delivery becomes: decode it, send it through the gateway, decide its outcome or its retry."""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass

import trio

from smstrio.core.config import SenderSettings
from smstrio.core.errors import DecodeError, GatewayError
from smstrio.core.logs import event
from smstrio.core.message import decode, parse_message_id
from smstrio.core.stats import Outcome, OutcomeRecord
from smstrio.ports import DeadLetter, Delivery, Gateway, Retry

log = logging.getLogger("smstrio.roles.sender")


@dataclass(frozen=True, slots=True)
class Result:
    """A delivery's outcome to record, with what to dead-letter or send back for a retry."""

    tag: int
    record: OutcomeRecord
    dead: DeadLetter | None = None
    retry: Retry | None = None


async def attempt(delivery: Delivery, gateway: Gateway, s: SenderSettings) -> Result:
    """Decode ``delivery``, send it through ``gateway`` and say what became of it.

    Malformed: invalid, with a dead letter. A failed send before the last attempt: retried,
    with the message to send back, after ``retry_delay * 2**(attempt - 1)`` seconds or the
    wait the gateway asked for, whichever is longer. A permanent refusal, or a failed last
    attempt: failed. Otherwise sent. Sent and failed carry the service time and end-to-end latency.
    """
    try:
        sms = decode(delivery.body)
    except DecodeError as exc:
        run: str | None = None
        seq: int | None = None
        if delivery.message_id:
            with contextlib.suppress(DecodeError):
                run, seq = parse_message_id(delivery.message_id)
        event(log, "invalid message", level=logging.WARNING, reason=str(exc), message_id=delivery.message_id)
        return Result(
            delivery.tag,
            OutcomeRecord(outcome=Outcome.INVALID, run=run, seq=seq),
            DeadLetter(delivery.body, delivery.message_id, str(exc)),
        )
    started = trio.current_time()
    wait, final = 0.0, False
    try:
        delivered = await gateway.send(sms)
    except GatewayError as exc:  # refused or unanswered: a failed send, which the counts show
        level = logging.WARNING if exc.permanent else logging.DEBUG  # permanent: the request itself is wrong
        event(log, "send refused", level=level, error=str(exc), message_id=sms.message_id)
        delivered, wait, final = False, exc.retry_after or 0.0, exc.permanent
    except Exception as exc:  # any other gateway error is a failed send too, not a crashed worker
        event(log, "gateway error", level=logging.WARNING, error=repr(exc), message_id=sms.message_id)
        delivered = False
    elapsed_us = round((trio.current_time() - started) * 1e6)
    # created_at is the producer's wall clock, so latency is too; clock skew may make it negative.
    latency_us = max(0, round((time.time() - sms.created_at) * 1e6))
    if not delivered and not final and delivery.attempt < s.max_attempts:
        delay = max(s.retry_delay * 2 ** (delivery.attempt - 1), wait)
        again = Retry(delivery.body, delivery.message_id, delivery.attempt + 1, delay)
        return Result(delivery.tag, OutcomeRecord(outcome=Outcome.RETRIED), retry=again)
    outcome = Outcome.SENT if delivered else Outcome.FAILED
    return Result(
        delivery.tag,
        OutcomeRecord(outcome=outcome, service_us=elapsed_us, latency_us=latency_us, run=sms.run, seq=sms.seq),
    )
