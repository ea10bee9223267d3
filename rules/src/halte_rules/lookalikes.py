"""Letters of other scripts drawn like Latin ones, read as the Latin letters a person sees.

Phones with Cyrillic or Greek keyboards produce words that *look* like Latin ones: a recipient
who types "ЅТОР" sees and means STOP, and a sender who writes "ѕоldеѕ" wants it read as
"soldes" by people while a word list misses it. The STOP keywords (inbound) and the promotional
detector (promotional.py) read text through this one table. Keys are case-folded letters; each
maps one character to one, so positions in a text are kept.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

LATIN_LOOKALIKES: Final = MappingProxyType(
    {
        "ı": "i",  # Turkish dotless i: case folding leaves it, so "QUIT" and "quıt" would differ
        # Cyrillic
        "а": "a",
        "в": "b",
        "с": "c",
        "ԁ": "d",
        "е": "e",
        "ё": "e",
        "һ": "h",
        "н": "h",
        "і": "i",
        "ј": "j",
        "к": "k",
        "м": "m",
        "о": "o",
        "р": "p",
        "ԛ": "q",
        "ѕ": "s",
        "т": "t",
        "у": "y",
        "ԝ": "w",
        "х": "x",
        # Greek
        "α": "a",
        "β": "b",
        "ε": "e",
        "η": "h",
        "ι": "i",
        "κ": "k",
        "μ": "m",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
        "ζ": "z",
    }
)
