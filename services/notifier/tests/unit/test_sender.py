"""The reply comes from the short code the recipient wrote to, else the account's first one."""

import pytest

from halte_notifier.domain.sender import choose_sender


@pytest.mark.parametrize(
    ("requested", "codes", "expected"),
    [
        ("36222", ("36111", "36222"), "36222"),
        ("36999", ("36111", "36222"), "36111"),  # a code the account no longer holds
        (None, ("36111",), "36111"),  # web, API or 33700 opt-out
        ("36111", (), None),  # no short code at all: park
        (None, (), None),
    ],
)
def test_choose_sender(requested: str | None, codes: tuple[str, ...], expected: str | None) -> None:
    assert choose_sender(requested=requested, short_codes=codes) == expected
