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
