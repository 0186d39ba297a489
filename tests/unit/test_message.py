"""Unit tests for the SMS model and its wire codec."""

from __future__ import annotations

import json
import random
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smstrio.core.errors import DecodeError
from smstrio.core.message import (
    MAX_BODY,
    MAX_TEXT,
    Sms,
    decode,
    encode,
    format_message_id,
    new_run_id,
    parse_message_id,
    random_sms,
)

E164 = re.compile(r"\+[1-9][0-9]{6,14}")
RUN = "0123456789ab"

runs = st.from_regex(r"[0-9a-f]{12}", fullmatch=True)
seqs = st.integers(min_value=0, max_value=2**32 - 1)


def body(**overrides: Any) -> bytes:
    """A valid encoded body with some fields replaced (or removed, when set to ``...``)."""
    data: dict[str, Any] = {"run": RUN, "seq": 7, "to": "+4915112345678", "text": "Server down", "created_at": 1.5}
    for key, value in overrides.items():
        if value is ...:
            del data[key]
        else:
            data[key] = value
    return json.dumps(data).encode()


@given(seed=st.integers(), seq=seqs, created_at=st.floats(allow_nan=False, allow_infinity=False))
def test_random_sms_round_trips(seed: int, seq: int, created_at: float) -> None:
    """A generated alert decodes back to an equal Sms after encoding."""
    rng = random.Random(seed)
    sms = random_sms(rng, run=new_run_id(rng), seq=seq, created_at=created_at)
    assert decode(encode(sms)) == sms


@given(seed=st.integers())
def test_random_sms_is_well_formed(seed: int) -> None:
    """A generated alert has an E.164 number and a text of 1 to MAX_TEXT characters."""
    rng = random.Random(seed)
    sms = random_sms(rng, run=new_run_id(rng), seq=0, created_at=0.0)
    assert E164.fullmatch(sms.to), sms.to
    assert 1 <= len(sms.text) <= MAX_TEXT


@given(seed=st.integers())
def test_new_run_id_is_twelve_hex_digits(seed: int) -> None:
    """A run id is 12 lowercase hex digits."""
    assert re.fullmatch(r"[0-9a-f]{12}", new_run_id(random.Random(seed)))


def test_random_sms_is_reproducible_from_a_seed() -> None:
    """The same seed generates the same alert."""
    one = random_sms(random.Random(42), run=RUN, seq=1, created_at=0.0)
    two = random_sms(random.Random(42), run=RUN, seq=1, created_at=0.0)
    assert one == two


def test_decode_accepts_an_integer_created_at() -> None:
    """An integer ``created_at`` decodes to a float."""
    sms = decode(body(created_at=3))
    assert sms.created_at == 3.0
    assert isinstance(sms.created_at, float)


def test_decode_accepts_text_of_max_length() -> None:
    """A text of exactly MAX_TEXT characters is accepted."""
    assert decode(body(text="x" * MAX_TEXT)).text == "x" * MAX_TEXT


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe\xfd", "not JSON"),
        (b"", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'"a string"', "not a JSON object"),
        (b"42", "not a JSON object"),
        (b"null", "not a JSON object"),
        (body(run=...), "missing fields: run"),
        (body(seq=..., text=...), "missing fields: seq, text"),
        (body(run=123456789012), "run must be a string"),
        (body(seq="7"), "seq an integer"),
        (body(seq=7.0), "seq an integer"),
        (body(seq=True), "seq an integer"),
        (body(seq=-1), "malformed message id"),
        (body(seq=2**32), "out of range"),
        (body(run="0123456789AB"), "malformed message id"),
        (body(run="0123456789a"), "malformed message id"),
        (body(run="0123456789abc"), "malformed message id"),
        (body(run="0123-56789ab"), "malformed message id"),
        (body(to="4915112345678"), "E.164"),
        (body(to="+0915112345678"), "E.164"),
        (body(to="+12345"), "E.164"),
        (body(to="+1234567890123456"), "E.164"),
        (body(to="+49 151 1234567"), "E.164"),
        (body(to=4915112345678), "E.164"),
        (body(text=""), "text must be 1 to 100"),
        (body(text="x" * (MAX_TEXT + 1)), "text must be 1 to 100"),
        (body(text=["hi"]), "text must be 1 to 100"),
        (body(created_at="now"), "created_at is not a finite number"),
        (body(created_at=True), "created_at is not a finite number"),
        (body(created_at=None), "created_at is not a finite number"),
        (body(created_at=float("nan")), "created_at is not a finite number"),
        (body(created_at=float("inf")), "created_at is not a finite number"),
        (body(to="+4915112345678\n"), "E.164"),
        (body(run=RUN + "\n"), "malformed message id"),
        (body(text="\ud800"), "lone surrogates"),
    ],
)
def test_decode_rejects_malformed_bodies(raw: bytes, reason: str) -> None:
    """A malformed body raises DecodeError saying what is wrong."""
    with pytest.raises(DecodeError, match=re.escape(reason)):
        decode(raw)


def test_decode_rejects_deep_nesting() -> None:
    """Deeply nested JSON raises DecodeError (RecursionError on Python 3.11, a parse error on 3.12+)."""
    with pytest.raises(DecodeError, match=r"nested too deeply|not JSON"):
        decode(b"[" * 1000)


def test_decode_rejects_oversized_body() -> None:
    """A body over MAX_BODY bytes raises DecodeError, even if it is otherwise valid JSON."""
    raw = body(extra="x" * MAX_BODY)
    assert len(raw) > MAX_BODY
    with pytest.raises(DecodeError, match="exceeds"):
        decode(raw)


def test_decode_ignores_extra_fields() -> None:
    """Unknown fields in a body under MAX_BODY are ignored."""
    assert decode(body(priority="high")) == decode(body())


@given(raw=st.binary(max_size=MAX_BODY + 16))
def test_arbitrary_bytes_decode_or_raise_decode_error(raw: bytes) -> None:
    """Arbitrary bytes either decode to an Sms or raise DecodeError, never another exception."""
    try:
        sms = decode(raw)
    except DecodeError:
        return
    assert isinstance(sms, Sms)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@given(
    fields=st.fixed_dictionaries(
        {},
        optional={
            "run": runs | json_values,
            "seq": seqs | json_values,
            "to": st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True) | json_values,
            "text": st.text(min_size=1, max_size=MAX_TEXT) | json_values,
            "created_at": json_values,
        },
    )
)
def test_near_valid_objects_decode_or_raise_decode_error(fields: dict[str, Any]) -> None:
    """JSON objects with valid or wrongly typed fields decode to an Sms or raise DecodeError, nothing else."""
    try:
        sms = decode(json.dumps(fields).encode())
    except DecodeError:
        return
    assert (sms.run, sms.seq, sms.to, sms.text) == (fields["run"], fields["seq"], fields["to"], fields["text"])


@given(run=runs, seq=seqs)
def test_parse_message_id_inverts_format(run: str, seq: int) -> None:
    """Parsing a formatted message id gives back its run and sequence."""
    assert parse_message_id(format_message_id(run, seq)) == (run, seq)


@given(run=runs, seq=seqs)
def test_format_message_id_inverts_parse(run: str, seq: int) -> None:
    """Formatting a parsed canonical message id gives back the same id."""
    message_id = f"{run}-{seq}"
    assert format_message_id(*parse_message_id(message_id)) == message_id


def test_message_id_property_is_run_dash_seq() -> None:
    """Sms.message_id is ``run-seq``."""
    assert decode(body()).message_id == f"{RUN}-7"


@pytest.mark.parametrize(
    "message_id",
    [
        "",
        RUN,
        f"{RUN}-",
        f"-{RUN}",
        f"{RUN}--1",
        f"{RUN}-1.5",
        f"{RUN}-1e3",
        f"{RUN}- 1",
        f"{RUN}-0x10",
        f"{RUN.upper()}-1",
        f"{RUN}0-1",
        f"{RUN[:-1]}-1",
        f"{RUN}-{2**32}",
        f"{RUN}-12345678901",
        "not-an-id",
        f"{RUN}-\u00b2",
        f"{RUN}-\u0663",
        f"{RUN}\n-5",
        f"{RUN}-5\n",
    ],
)
def test_parse_message_id_rejects_malformed_ids(message_id: str) -> None:
    """A malformed message id raises DecodeError."""
    with pytest.raises(DecodeError):
        parse_message_id(message_id)


def test_parse_message_id_accepts_the_largest_sequence() -> None:
    """Sequence 2**32 - 1 is the largest accepted."""
    assert parse_message_id(f"{RUN}-{2**32 - 1}") == (RUN, 2**32 - 1)
