import pytest
from hypothesis import given
from hypothesis import strategies as st

from halte_shared.sms import GSM7_BASIC, GSM7_EXTENSION, encoding_for, measure, split_segments


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", "GSM-7", 0, 1),
        ("Bonjour", "GSM-7", 7, 1),
        ("é", "GSM-7", 1, 1),  # é is in the basic table
        ("É", "GSM-7", 1, 1),
        ("ê", "UCS-2", 1, 1),  # ê is not: the whole text goes UCS-2
        ("€", "GSM-7", 2, 1),  # extension table: escape + char
        ("[", "GSM-7", 2, 1),
        ("{}|~^\\]", "GSM-7", 14, 1),
        ("😀", "UCS-2", 2, 1),  # outside the BMP: a surrogate pair
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),
        ("€" * 81, "GSM-7", 162, 2),
        ("ê" * 70, "UCS-2", 70, 1),
        ("ê" * 71, "UCS-2", 71, 2),
        ("ê" * 134, "UCS-2", 134, 2),
        ("ê" * 135, "UCS-2", 135, 3),
        ("😀" * 35, "UCS-2", 70, 1),
        ("😀" * 36, "UCS-2", 72, 2),
    ],
)
def test_measure_follows_gsm_03_38(text, encoding, units, segments):
    result = measure(text)
    assert (result.encoding, result.units, result.segments) == (encoding, units, segments)


def test_escape_pair_is_never_split_across_segments():
    # 152 plain septets then a euro: the euro's two septets do not fit in the first part.
    text = "a" * 152 + "€" + "b" * 10
    parts = split_segments(text)
    assert parts[0] == "a" * 152
    assert parts[1].startswith("€")


def test_cost_is_per_segment():
    assert measure("a" * 200, credits_per_segment=3).cost == 6


@given(st.text(alphabet=[*sorted(GSM7_BASIC | GSM7_EXTENSION), "ê", "😀", "ж"], max_size=600))
def test_segments_reassemble_and_respect_capacity(text):
    parts = split_segments(text)
    assert "".join(parts) == text
    encoding = encoding_for(text)
    if len(parts) > 1:
        limit = 153 if encoding == "GSM-7" else 67
        for part in parts:
            units = sum(2 if (encoding == "GSM-7" and ch in GSM7_EXTENSION) or ord(ch) > 0xFFFF else 1 for ch in part)
            assert units <= limit
