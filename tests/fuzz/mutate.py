"""Hypothesis strategies that turn valid inputs into hostile ones.

Three layers, each a strategy: byte-level mutations of a valid seed (flip, insert, delete,
duplicate, splice, truncate, "interesting" tokens), value-level mutations of a JSON object
(retype, delete, add, nest), and plain random bytes or text. Targets mix them so that most
inputs get past the first parser and reach the checks behind it.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

__all__ = [
    "INTERESTING_BYTES",
    "Mutator",
    "json_values",
    "mutated_bytes",
    "mutated_json",
    "mutated_text",
    "random_bytes",
]

# Tokens that break parsers: quotes, brackets, encodings, huge and special numbers,
# XML entities and markup, control and non-ASCII characters, CSV structure.
INTERESTING_BYTES: tuple[bytes, ...] = (
    b"",
    b"\x00",
    b"\xff",
    b"\xc3\x28",
    b"\xed\xa0\x80",
    b"\xef\xbb\xbf",
    b'"',
    b"'",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b";",
    b"\t",
    b"\r\n",
    b"\n",
    b":",
    b"=",
    b".",
    b"..",
    b"null",
    b"true",
    b"-0",
    b"1e999",
    b"-1e999",
    b"NaN",
    b"Infinity",
    b"9" * 40,
    b"9" * 5000,
    b"0.000000000000000000001",
    b"<",
    b">",
    b"&",
    b"&amp;",
    b"&#0;",
    b"&#x110000;",
    b"]]>",
    b"<!--",
    b"-->",
    b'<!DOCTYPE r [<!ENTITY e "x">]>',
    b'<!DOCTYPE r SYSTEM "file:///etc/passwd">',
    b"<?xml version='1.0'?>",
    b'xmlns="urn:x"',
    b"xmlns:saml=",
    b"=" * 3,
    b"%",
    b"%00",
    b"%ZZ",
    b"+",
    b"/",
    b"A" * 300,
    "\u202e".encode(),
    "\u00e9".encode(),
    "\U0001f6a2".encode(),
)


def mutated_bytes(
    seeds: Sequence[bytes], *, max_ops: int = 6, extra: Sequence[bytes] = ()
) -> st.SearchStrategy[bytes]:
    """A seed with up to ``max_ops`` byte-level edits (positions anywhere in the input)."""
    seed_s = st.sampled_from(list(seeds))
    token_s = st.sampled_from(INTERESTING_BYTES + tuple(extra))
    ops_s = st.integers(0, max_ops)
    op_s, pos_s, bit_s, byte_s = (
        st.integers(0, 8),
        st.integers(0, 1 << 20),
        st.integers(0, 7),
        st.integers(0, 255),
    )
    insert_s = st.binary(min_size=1, max_size=16)

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(seed_s))
        for _ in range(draw(ops_s)):
            op = draw(op_s)
            pos = draw(pos_s) % (len(data) + 1)
            if op == 0 and data:  # flip one bit
                data[pos % len(data)] ^= 1 << draw(bit_s)
            elif op == 1:  # insert random bytes
                data[pos:pos] = draw(insert_s)
            elif op == 2:  # insert a token
                data[pos:pos] = draw(token_s)
            elif op == 3:  # delete a range
                del data[pos : pos + 1 + draw(byte_s) // 4]
            elif op == 4:  # duplicate a range
                data[pos:pos] = data[pos : pos + 1 + draw(byte_s)]
            elif op == 5:  # replace a range with a token
                data[pos : pos + 1 + draw(bit_s)] = draw(token_s)
            elif op == 6:  # truncate
                del data[pos:]
            elif op == 7:  # splice in a slice of another seed
                other = draw(seed_s)
                start = draw(pos_s) % (len(other) + 1)
                data[pos:pos] = other[start : start + 1 + 2 * draw(byte_s)]
            elif data:  # overwrite one byte with a random value
                data[pos % len(data)] = draw(byte_s)
        return bytes(data)

    return build()


def mutated_text(seeds: Sequence[str], *, max_ops: int = 6) -> st.SearchStrategy[str]:
    """A text seed with byte-level edits, decoded back leniently (so it stays ``str``)."""
    raw = mutated_bytes([s.encode() for s in seeds], max_ops=max_ops)
    # "surrogateescape" gives lone surrogates: what a lenient decoder upstream may hand over.
    return st.tuples(raw, st.sampled_from(["replace", "surrogateescape"])).map(
        lambda pair: pair[0].decode("utf-8", pair[1])
    )


def random_bytes(max_size: int = 2048) -> st.SearchStrategy[bytes]:
    return st.binary(max_size=max_size)


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(1 << 70), max_value=1 << 70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=24)
    | st.sampled_from(["", " ", "0", "-1", "1e999", "null", "\x00", "\ud800", "A" * 5000])
    | st.sampled_from([10**400, -(10**400), 2**63, -(2**63) - 1, 1e308, 5e-324])
)

json_values: st.SearchStrategy[Any] = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=8,
)


def _containers(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every dict and list inside ``value`` (the root included)."""
    found = []
    if isinstance(value, dict):
        found.append(path)
        for key, item in value.items():
            found += _containers(item, (*path, key))
    elif isinstance(value, list):
        found.append(path)
        for index, item in enumerate(value):
            found += _containers(item, (*path, index))
    return found


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


def mutated_json(
    seeds: Sequence[Any], *, max_ops: int = 4, keys: Sequence[str] = ()
) -> st.SearchStrategy[Any]:
    """A JSON value from ``seeds`` with up to ``max_ops`` structural edits.

    ``keys`` are names worth adding (claims, SCIM attributes) besides random ones.
    """
    seeds = [copy.deepcopy(s) for s in seeds]
    index_s = st.integers(0, len(seeds) - 1)
    names = st.sampled_from(list(keys)) | st.text(max_size=12) if keys else st.text(max_size=12)
    ops_s, op_s, pick_s = st.integers(1, max_ops), st.integers(0, 3), st.integers(0, 1 << 16)

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        value = copy.deepcopy(seeds[draw(index_s)])
        for _ in range(draw(ops_s)):
            paths = _containers(value)
            if not paths:
                return value
            container = _at(value, paths[draw(pick_s) % len(paths)])
            op = draw(op_s)
            if isinstance(container, dict):
                existing = list(container)
                if op == 0 and existing:  # delete a member
                    del container[existing[draw(pick_s) % len(existing)]]
                elif op == 1 and existing:  # retype a member
                    container[existing[draw(pick_s) % len(existing)]] = draw(json_values)
                elif op == 2 and existing:  # wrap a member in a list (a type confusion)
                    name = existing[draw(pick_s) % len(existing)]
                    container[name] = [container[name]]
                else:  # add a member
                    container[draw(names)] = draw(json_values)
            elif op == 0 and container:
                del container[draw(pick_s) % len(container)]
            elif op == 1 and container:
                container[draw(pick_s) % len(container)] = draw(json_values)
            else:
                container.append(draw(json_values))
        return value

    return build()


class Mutator:
    """Cheap byte-level mutants of one input, from a seeded ``random.Random``.

    Hypothesis draws the structure-aware inputs (a few hundred per second); each is then
    multiplied into mutants at the byte level, the way coverage fuzzers spend most of
    their time, so that rpkit rather than the generator gets the CPU.
    """

    def __init__(self, rng: random.Random, tokens: Sequence[bytes] = INTERESTING_BYTES) -> None:
        self.rng = rng
        self.tokens = tokens

    def bytes(self, data: bytes, *, max_ops: int = 4) -> bytes:
        rng, out = self.rng, bytearray(data)
        for _ in range(rng.randint(1, max_ops)):
            op = rng.randrange(8)
            pos = rng.randint(0, len(out))
            if op == 0 and out:
                out[pos % len(out)] ^= 1 << rng.randrange(8)
            elif op == 1:
                out[pos:pos] = rng.randbytes(rng.randint(1, 8))
            elif op == 2:
                out[pos:pos] = rng.choice(self.tokens)
            elif op == 3:
                del out[pos : pos + rng.randint(1, 32)]
            elif op == 4:
                out[pos:pos] = out[pos : pos + rng.randint(1, 128)]
            elif op == 5:
                out[pos : pos + rng.randint(1, 8)] = rng.choice(self.tokens)
            elif op == 6 and rng.random() < 0.3:
                del out[pos:]
            elif out:
                out[pos % len(out)] = rng.randrange(256)
        return bytes(out)

    def text(self, value: str, *, max_ops: int = 4) -> str:
        data = self.bytes(value.encode("utf-8", "surrogatepass"), max_ops=max_ops)
        return data.decode("utf-8", "replace" if self.rng.random() < 0.5 else "surrogateescape")
