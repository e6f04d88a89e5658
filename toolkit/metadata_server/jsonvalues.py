"""JSON values that every reader of the store can read back: numbers finite and integers within 64 bits.

Python's ``json`` reads ``NaN``, ``Infinity`` and ``1e400`` (as ``inf``) and writes them back as the bare words
``NaN``/``Infinity``, which no strict JSON parser (orjson, browsers, Metamist's MariaDB) accepts; integers of any
size pass through it, but SQLite, MariaDB's BIGINT and orjson stop at 64 bits. A value like that, once stored,
would break every later answer that contains it. So every JSON value is checked where it enters the store
(:func:`dumps` is the only way in) and where it enters the server (request bodies, seed files), with the path of
the offending number for the error message.
"""

from __future__ import annotations

import json
import math
import re

import orjson

# Signed 64-bit: SQLite INTEGER, MariaDB BIGINT and every JSON library we meet can hold these exactly.
MIN_INT = -(2**63)
MAX_INT = 2**63 - 1
RULE = "metadata numbers must be finite, and integers must fit in 64 bits"


class BadJsonValue(ValueError):
    """A value that cannot be stored: ``path`` locates it (``meta.reads[0].size``), ``parts`` as a list."""

    def __init__(self, parts: list, value, reason: str, *, about_numbers: bool = True):
        self.parts = parts
        self.value = value
        self.reason = f"{reason} ({RULE})" if about_numbers else reason
        super().__init__(f"{format_path(parts) or '(value)'}: {self.reason}")

    @property
    def path(self) -> str:
        return format_path(self.parts)

    def under(self, root: str) -> str:
        """The message with the path starting at ``root`` (``variables.a.meta.size: ...``)."""
        return f"{format_path([root, *self.parts])}: {self.reason}"


def format_path(parts: list) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def describe_number(value) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN is not a number"
        return f"{'-' if value < 0 else ''}Infinity is not a finite number (or the number overflowed a double)"
    digits = len(str(abs(value)))
    return f"the integer {value if digits <= 30 else f'of {digits} digits'} is out of range"


def find_bad_number(value, prefix: list | None = None) -> BadJsonValue | None:
    """The first non-finite float or out-of-range integer inside ``value``, or None. Iterative: no depth limit."""
    stack = [(value, prefix or [])]
    while stack:
        item, parts = stack.pop()
        kind = type(item)
        if kind is dict:
            stack.extend((child, [*parts, key]) for key, child in reversed(item.items()))
        elif kind is list:
            stack.extend((child, [*parts, index]) for index, child in reversed(list(enumerate(item))))
        elif kind is float:
            if not math.isfinite(item):
                return BadJsonValue(parts, item, describe_number(item))
        elif kind is int:
            if not MIN_INT <= item <= MAX_INT:
                return BadJsonValue(parts, item, describe_number(item))
    return None


def has_bad_number(value) -> bool:
    """Fast yes/no version of :func:`find_bad_number` (no paths built): the common, valid case."""
    stack = [value]
    pop, extend = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is dict:
            extend(item.values())
        elif kind is list:
            extend(item)
        elif kind is float:
            if not math.isfinite(item):
                return True
        elif kind is int and not MIN_INT <= item <= MAX_INT:
            return True
    return False


def check(value, prefix: list | None = None) -> None:
    """Raise :class:`BadJsonValue` for the first number that cannot be stored."""
    if has_bad_number(value):
        raise find_bad_number(value, prefix)


# An integer token of 19 or more digits (after ':' ',' '[', before ',' ']' '}'; orjson writes no spaces): the
# only way an integer beyond 64 bits can appear in orjson's output. Digits inside strings end with '"'.
_LONG_DIGITS = re.compile(rb"(?:^|[:,\[])-?[0-9]{19,}(?:[,\]}]|$)")


def dumps(value, prefix: list | None = None) -> str:
    """Compact JSON text, keys in their order; refuses what :func:`check` refuses.

    orjson refuses integers beyond 64 bits (unsigned) itself but writes NaN and infinities as ``null``. So the
    exact check (a walk over the value) runs only when the output could hide a bad number: it contains a
    ``null`` or a run of 19 digits (rare in metadata, and a false alarm only costs the walk).
    """
    try:
        text = orjson.dumps(value)
    except orjson.JSONEncodeError as error:
        check(value, prefix)  # a too-large integer: raised here with its path
        raise BadJsonValue(prefix or [], value, f"cannot be stored as JSON: {error}", about_numbers=False) from None
    if b"null" in text or _LONG_DIGITS.search(text):
        check(value, prefix)
    return text.decode()


def stored_fragment(text: str) -> orjson.Fragment:
    """Stored JSON text, to be embedded in an answer as it is (no parse, no objects, no re-encoding).

    Everything written now is strict; text from a toolkit before the checks may hold the bare words NaN or
    Infinity, which no strict reader accepts: such text is parsed and checked first (ValueError if so).
    """
    if "NaN" in text or "Infinity" in text:
        check(json.loads(text))
    return orjson.Fragment(text)


def loads(text: str | bytes):
    """Strict parse of stored JSON (stored text is strict; orjson is several times faster than json)."""
    return orjson.loads(text)


class InvalidJson(ValueError):
    """Text that is not JSON at all: ``msg`` and ``pos`` as ``json.JSONDecodeError`` has them."""

    def __init__(self, msg: str, pos: int, lineno: int, colno: int):
        self.msg, self.pos, self.lineno, self.colno = msg, pos, lineno, colno
        super().__init__(f"{msg}: line {lineno} column {colno} (char {pos})")


def parse_document(text: str | bytes):
    """A JSON document from outside (a request body, a query-string parameter): syntax errors raise
    :class:`InvalidJson`, unstorable numbers (``NaN``, ``Infinity``, ``1e400``, ``10**400``) :class:`BadJsonValue`.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidJson(error.msg, error.pos, error.lineno, error.colno) from None
    except RecursionError:
        raise InvalidJson("nested too deeply", 0, 1, 1) from None
    except UnicodeDecodeError as error:
        raise InvalidJson(f"not UTF-8: {error.reason}", error.start, 1, error.start + 1) from None
    check(value)
    return value
