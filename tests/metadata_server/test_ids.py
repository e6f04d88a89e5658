"""Metamist ids: prefix, number, Luhn check digit (offsets as the golden recording shows)."""

import pytest

from toolkit.metadata_server.ids import DEFAULT_CODEC, make_codec


def test_golden_ids():
    assert [DEFAULT_CODEC.sequencing_group.encode(n) for n in (1, 2, 3, 7)] == [
        "CPGLCL17", "CPGLCL25", "CPGLCL33", "CPGLCL74"]
    assert [DEFAULT_CODEC.sample.encode(n) for n in (1, 2, 6)] == ["XPGLCL10", "XPGLCL28", "XPGLCL69"]
    assert DEFAULT_CODEC.sequencing_group.decode("CPGLCL9999995") == 999999


@pytest.mark.parametrize("number", [1, 9, 10, 99, 12345, 10**9 + 7])
def test_round_trip_and_single_digit_errors_are_caught(number):
    kind = make_codec(sequencing_group_prefix="CPGTEST").sequencing_group
    text = kind.encode(number)
    assert text.startswith("CPGTEST") and kind.decode(text) == number
    last = int(text[-1])
    with pytest.raises(ValueError, match="was not valid"):
        kind.decode(text[:-1] + str((last + 1) % 10))


def test_messages_match_metamist():
    with pytest.raises(ValueError, match=r"^The provided sequencing group ID was not valid: 'CPGLCL999999'$"):
        DEFAULT_CODEC.sequencing_group.decode("CPGLCL999999")
    with pytest.raises(ValueError, match=r"^Invalid prefix found for CPGLCL sequencing-group identifier 'NOTANID'$"):
        DEFAULT_CODEC.sequencing_group.decode("NOTANID")


def _metamist_luhn_is_valid(number: int, offset: int) -> bool:
    """Metamist's models/utils/luhn.py, as its source reads: the digits of the integer, every second one from the
    right doubled (a doubled digit counts as the sum of its digits)."""
    digits = [int(d) for d in str(number)]
    doubled = [sum(int(d) for d in str(digit * 2)) for digit in digits[-2::-2]]
    return (sum(digits[-1::-2]) + sum(doubled)) % 10 == offset


@pytest.mark.parametrize("number", [0, 1, 8, 17, 99, 100, 4_532_015_112_830_366 // 10, 2**62 + 12_345, 2**63 - 1])
def test_check_digits_are_metamists(number):
    for kind in (DEFAULT_CODEC.sample, DEFAULT_CODEC.sequencing_group):
        encoded = kind.encode(number)
        assert _metamist_luhn_is_valid(int(encoded[len(kind.prefix):]), kind.offset)
        assert kind.decode(encoded) == number
        # and every other last digit is refused, as Metamist refuses it
        for wrong in set("0123456789") - {encoded[-1]}:
            assert not _metamist_luhn_is_valid(int(encoded[len(kind.prefix):-1] + wrong), kind.offset)
            with pytest.raises(ValueError, match="was not valid"):
                kind.decode(encoded[:-1] + wrong)


def test_ids_read_as_metamist_reads_them():
    """Metamist takes the digits with str.isdigit() and int(): leading zeros count for nothing and other
    scripts' decimal digits are digits; superscripts pass isdigit() but not int()."""
    kind = DEFAULT_CODEC.sequencing_group
    assert kind.decode("CPGLCL0017") == 1
    assert kind.decode("CPGLCL\u0661\u0667") == 1  # Arabic-Indic 1 and 7: int() reads 17
    with pytest.raises(ValueError):
        kind.decode("CPGLCL\u00b27")  # superscript two
