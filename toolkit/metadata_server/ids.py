"""Metamist-style identifiers for samples and sequencing groups: ``<PREFIX><number><Luhn check digit>``.

Metamist shifts the Luhn checksum by a per-kind offset, which is why raw id 1 becomes ``CPGLCL17`` for a
sequencing group but ``XPGLCL10`` for a sample. Malformed ids are rejected *before* any lookup, with the same
messages as the real server, so callers see the same errors locally and in production.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_SAMPLE_PREFIX = "XPGLCL"
DEFAULT_SEQUENCING_GROUP_PREFIX = "CPGLCL"
DEFAULT_COHORT_PREFIX = "COH"
MAX_RAW_ID = 2**63 - 1  # SQLite's INTEGER, MariaDB's BIGINT


# Every second digit from the right is doubled, and a two-digit result counts as the sum of its digits. The sums
# are taken two digits at a time from an integer: every id of an answer is encoded (10,000 a page), and this is
# about three times as fast as walking the digits of its text.
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
_PAIR_LAST_DOUBLED = tuple(_DOUBLED[pair % 10] + pair // 10 for pair in range(100))
_PAIR_FIRST_DOUBLED = tuple(pair % 10 + _DOUBLED[pair // 10] for pair in range(100))


def _luhn_sum(number: int, pairs: tuple[int, ...]) -> int:
    total = 0
    while number:
        number, pair = divmod(number, 100)
        total += pairs[pair]
    return total


def luhn_check_digit(number: int, offset: int) -> int:
    """The digit that, appended to ``number``, makes the Luhn sum congruent to ``offset`` modulo 10."""
    return (offset - _luhn_sum(number, _PAIR_LAST_DOUBLED)) % 10


def luhn_is_valid(digits: str, offset: int) -> bool:
    """Leading zeros add nothing to the sum; int() reads the same digits str.isdigit() accepts, or raises
    ValueError for those it does not (superscripts), as reading them one by one would."""
    return digits.isdigit() and _luhn_sum(int(digits), _PAIR_FIRST_DOUBLED) % 10 == offset


@dataclass(frozen=True)
class IdKind:
    prefix: str
    offset: int
    noun: str  # as in Metamist's messages: "sequencing group" / "sample"
    prefix_noun: str  # "sequencing-group" / "sample"

    def encode(self, raw: int) -> str:
        return f"{self.prefix}{raw}{luhn_check_digit(raw, self.offset)}"

    def decode(self, text: str) -> int:
        """The raw number inside ``text``; ValueError with Metamist's message when malformed."""
        if not isinstance(text, str) or not text.startswith(self.prefix):
            raise ValueError(
                f"Invalid prefix found for {self.prefix} {self.prefix_noun} identifier {text!r}"
            )
        digits = text[len(self.prefix):]
        if len(digits) < 2 or not luhn_is_valid(digits, self.offset):
            raise ValueError(f"The provided {self.noun} ID was not valid: {text!r}")
        number = int(digits[:-1])
        if number > MAX_RAW_ID:  # no row has it, and SQLite could not even look it up
            raise ValueError(f"The provided {self.noun} ID was not valid: {text!r} (out of range)")
        return number


@dataclass(frozen=True)
class IdCodec:
    sample: IdKind
    sequencing_group: IdKind
    cohort_prefix: str = DEFAULT_COHORT_PREFIX


def make_codec(
    sample_prefix: str = DEFAULT_SAMPLE_PREFIX,
    sequencing_group_prefix: str = DEFAULT_SEQUENCING_GROUP_PREFIX,
) -> IdCodec:
    # The offsets are the ones the golden recording shows for Metamist's local environment.
    return IdCodec(
        sample=IdKind(sample_prefix, 2, "sample", "sample"),
        sequencing_group=IdKind(sequencing_group_prefix, 9, "sequencing group", "sequencing-group"),
    )


DEFAULT_CODEC = make_codec()
