"""SMS text: GSM 03.38 or UCS-2, segment count and cost.

Standards (3GPP TS 23.038 and 23.040): a text made only of the GSM 7-bit default alphabet
and its extension table travels as GSM-7, where an extension character (€, [, ], {, }, \\,
^, ~, |, form feed) costs two septets (escape + char). One segment holds 160 septets, or
153 per segment once the message is concatenated (the user data header takes 7). Any
other character forces UCS-2: 70 UTF-16 code units, or 67 per segment when concatenated;
a character outside the Basic Multilingual Plane (most emoji) takes two code units.
A segment boundary never splits an escape pair or a surrogate pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE_SEGMENT = {"GSM-7": 160, "UCS-2": 70}
CONCATENATED_SEGMENT = {"GSM-7": 153, "UCS-2": 67}


def encoding_for(text: str) -> Encoding:
    """Return the encoding a carrier must use for this text."""
    return "GSM-7" if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text) else "UCS-2"


def _unit_costs(text: str, encoding: Encoding) -> list[int]:
    if encoding == "GSM-7":
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def split_segments(text: str) -> list[str]:
    """Split a text into the parts a handset reassembles, never cutting a character."""
    encoding = encoding_for(text)
    costs = _unit_costs(text, encoding)
    if sum(costs) <= SINGLE_SEGMENT[encoding]:
        return [text] if text else []
    capacity = CONCATENATED_SEGMENT[encoding]
    parts: list[str] = []
    start, used = 0, 0
    for index, cost in enumerate(costs):
        if used + cost > capacity:
            parts.append(text[start:index])
            start, used = index, 0
        used += cost
    parts.append(text[start:])
    return parts


@dataclass(frozen=True, slots=True)
class TextMeasure:
    """The measure of a text: encoding, length in encoding units, segments and credit cost."""

    encoding: Encoding
    units: int
    segments: int
    cost: int


def measure(text: str, *, credits_per_segment: int = 1) -> TextMeasure:
    """Return the encoding, length, segment count and cost of a text."""
    encoding = encoding_for(text)
    segments = max(1, len(split_segments(text)))
    return TextMeasure(
        encoding=encoding,
        units=sum(_unit_costs(text, encoding)),
        segments=segments,
        cost=segments * credits_per_segment,
    )
