"""Language of an informative reply: French for French numbers, English otherwise.

Rule (issue 7, from SPEC rules 5-6): the opt-out confirmation and the CONTACT reply are
written in French to a French number and in English to any other. "French" means every
number of the French numbering plans, the metropolis and the overseas departments and
collectivities alike (a Réunion or Guadeloupe mobile is answered in French), as
``halte_shared.phone.describe`` reads them from the number's region.
"""

from __future__ import annotations

from typing import Literal

from halte_shared.phone import InvalidPhoneNumber, describe

Language = Literal["fr", "en"]
LANGUAGES: tuple[Language, ...] = ("fr", "en")


def language_for(phone: str) -> Language:
    """Return the language to answer a number in."""
    try:
        info = describe(phone)
    except InvalidPhoneNumber:
        # A number the carrier could reach but our metadata cannot place: English is the
        # lingua franca of the "otherwise" branch.
        return "en"
    return "fr" if info.is_french else "en"
