"""The SMS alert: model, wire codec and a seeded generator. Pure, no I/O."""

from __future__ import annotations

import json
import math
import random
import re
import string
from dataclasses import dataclass
from json.encoder import encode_basestring

from smstrio.core.errors import DecodeError

MAX_TEXT = 100
"""Longest SMS text smstrio generates or accepts, in characters."""

MAX_BODY = 1024
"""Largest encoded body accepted from the queue, in bytes."""

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_RUN = re.compile(r"[0-9a-f]{12}")
_RUN_LENGTH = 12
_HEX = "0123456789abcdef"
"""A run id is ``_RUN_LENGTH`` of these (as ``_RUN`` says; strip() tests it faster)."""
_SEQ = re.compile(r"[0-9]{1,10}")
_TEXT_ALPHABET = string.ascii_letters + string.digits + " .,!?-"
_FIELDS = frozenset({"run", "seq", "to", "text", "created_at"})
_JSON = json.JSONDecoder()


@dataclass(frozen=True, slots=True, kw_only=True)
class Sms:
    """One SMS alert. ``(run, seq)`` identifies it across redeliveries and re-publishes."""

    run: str
    seq: int
    to: str
    text: str
    created_at: float

    @property
    def message_id(self) -> str:
        """The stable id, also sent as the AMQP ``message_id`` property."""
        return format_message_id(self.run, self.seq)


def format_message_id(run: str, seq: int) -> str:
    """``run-seq``, the inverse of :func:`parse_message_id`."""
    return f"{run}-{seq}"


def parse_message_id(message_id: str) -> tuple[str, int]:
    """Split a message id into ``(run, seq)``; raise :class:`DecodeError` if it is not one."""
    run, sep, seq = message_id.partition("-")
    if not sep or not _RUN.fullmatch(run) or not _SEQ.fullmatch(seq):
        raise DecodeError(f"malformed message id {message_id[:40]!r}")
    value = int(seq)
    if value >= 2**32:
        raise DecodeError(f"message sequence {value} out of range")
    return run, value


def encode(sms: Sms) -> bytes:
    """The compact JSON body published to the queue."""
    run, seq, to, text, created_at = sms.run, sms.seq, sms.to, sms.text, sms.created_at
    if (
        type(seq) is int
        and type(created_at) is float
        and math.isfinite(created_at)
        and type(run) is str
        and type(to) is str
        and type(text) is str
    ):  # what json.dumps writes for these exact types, at a quarter of its cost (it builds an encoder per call)
        quote = encode_basestring
        return (
            f'{{"run":{quote(run)},"seq":{seq},"to":{quote(to)},"text":{quote(text)},"created_at":{created_at!r}}}'
        ).encode()
    return json.dumps(
        {"run": run, "seq": seq, "to": to, "text": text, "created_at": created_at},
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def decode(body: bytes) -> Sms:
    """Parse and validate a body; raise :class:`DecodeError` saying what is wrong."""
    if len(body) > MAX_BODY:
        raise DecodeError(f"body of {len(body)} bytes exceeds {MAX_BODY}")
    try:
        if type(body) is bytes and body[:1] == b"{" and body[1:2] != b"\x00":  # what json.loads reads as UTF-8
            data = _JSON.decode(body.decode("utf-8", "surrogatepass"))  # as json.loads does, minus its checks
        else:
            data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError("body is not JSON") from exc
    except RecursionError as exc:
        raise DecodeError("body is nested too deeply") from exc
    if not isinstance(data, dict):
        raise DecodeError("body is not a JSON object")
    if not data.keys() >= _FIELDS:
        raise DecodeError(f"missing fields: {', '.join(sorted(_FIELDS - data.keys()))}")
    run, seq, to, text, created_at = data["run"], data["seq"], data["to"], data["text"], data["created_at"]
    if (
        type(run) is str
        and len(run) == _RUN_LENGTH
        and not run.strip(_HEX)
        and type(seq) is int
        and 0 <= seq < 2**32
        and type(to) is str
        and _E164.fullmatch(to)
        and type(text) is str
        and 1 <= len(text) <= MAX_TEXT
        and text.isascii()
        and type(created_at) is float
        and math.isfinite(created_at)
    ):  # the common case, valid by the checks below, taken in one test
        return Sms(run=run, seq=seq, to=to, text=text, created_at=created_at)
    return _checked(run, seq, to, text, created_at)


def _checked(run: object, seq: object, to: object, text: object, created_at: object) -> Sms:
    """The fields of a body, each checked in turn: an :class:`Sms`, or the first error found."""
    if not isinstance(run, str) or not isinstance(seq, int) or isinstance(seq, bool):
        raise DecodeError("run must be a string and seq an integer")
    parse_message_id(format_message_id(run, seq))
    if not isinstance(to, str) or not _E164.fullmatch(to):
        raise DecodeError("to is not an E.164 number")
    if not isinstance(text, str) or not 1 <= len(text) <= MAX_TEXT:
        raise DecodeError(f"text must be 1 to {MAX_TEXT} characters")
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        raise DecodeError("text has lone surrogates") from exc
    if not isinstance(created_at, int | float) or isinstance(created_at, bool) or not math.isfinite(created_at):
        raise DecodeError("created_at is not a finite number")
    return Sms(run=run, seq=seq, to=to, text=text, created_at=float(created_at))


def new_run_id(rng: random.Random) -> str:
    """A fresh 12-hex-digit run id; one producer invocation is one run."""
    return f"{rng.getrandbits(48):012x}"


def random_sms(rng: random.Random, *, run: str, seq: int, created_at: float) -> Sms:
    """A random alert: an E.164 number of 8 to 15 digits and a text of 1 to MAX_TEXT characters."""
    digits = rng.randint(7, 14)
    number = "+" + str(rng.randint(1, 9)) + "".join(rng.choices(string.digits, k=digits))
    text = "".join(rng.choices(_TEXT_ALPHABET, k=rng.randint(1, MAX_TEXT)))
    return Sms(run=run, seq=seq, to=number, text=text, created_at=created_at)
