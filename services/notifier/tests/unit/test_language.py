"""French for French numbers (metropolis and overseas), English otherwise."""

import pytest

from halte_notifier.domain.language import language_for


@pytest.mark.parametrize(
    ("phone", "language"),
    [
        ("+33612345678", "fr"),  # metropolis
        ("+262692123456", "fr"),  # Réunion
        ("+590690123456", "fr"),  # Guadeloupe
        ("+596696123456", "fr"),  # Martinique
        ("+687751234", "fr"),  # New Caledonia
        ("+32470123456", "en"),  # Belgium: French-speaking in part, but not a French number
        ("+41781234567", "en"),  # Switzerland
        ("+447700900123", "en"),  # United Kingdom
        ("+14155552671", "en"),  # United States
        ("+999", "en"),  # unplaceable
    ],
)
def test_language_for(phone: str, language: str) -> None:
    assert language_for(phone) == language
