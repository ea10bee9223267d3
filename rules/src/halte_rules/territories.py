"""French territories: the region phonenumbers gives their numbers and the zone their people live in."""

from __future__ import annotations

from typing import Final

#: French territories by the ISO region phonenumbers gives their numbers, with the
#: IANA zone the recipient lives in. French Polynesia spans three zones; Tahiti holds
#: almost all of its population and phonenumbers cannot tell the islands apart.
FRENCH_TERRITORY_ZONES: Final[dict[str, str]] = {
    "FR": "Europe/Paris",
    "GP": "America/Guadeloupe",
    "MQ": "America/Martinique",
    "GF": "America/Cayenne",
    "RE": "Indian/Reunion",
    "YT": "Indian/Mayotte",
    "MF": "America/Marigot",
    "BL": "America/St_Barthelemy",
    "PM": "America/Miquelon",
    "NC": "Pacific/Noumea",
    "PF": "Pacific/Tahiti",
    "WF": "Pacific/Wallis",
}
