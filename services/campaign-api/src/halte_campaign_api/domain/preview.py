"""Preview: what a campaign will cost and look like before it is launched.

Rule (CONTRACT.md ``GET /v1/campaigns/{id}/preview``, SPEC rule 2): the client sees the
final text with the STOP mention and the advertiser name where required, its encoding
(GSM-7 or UCS-2), its segment count and its cost, computed by the same composition the
dispatcher applies (:func:`compose.compose`) and the shared SMS measure (3GPP TS 23.038 /
23.040). Warnings explain surprises on the bill: the platform's additions pushing the
text into another segment, a character forcing UCS-2 (70 characters a segment instead
of 160), GSM extension characters counting double, an empty personalisation field.
The sample recipient's values stand in for the real ones; a real recipient's values may
change the length, so the preview reports which fields the text uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from halte_campaign_api.domain.compose import compose
from halte_shared.sms import CONCATENATED_SEGMENT, GSM7_BASIC, GSM7_EXTENSION, SINGLE_SEGMENT, Encoding, measure

#: A representative recipient, so the preview's length is that of a real message.
DEFAULT_SAMPLE_FIELDS: Final[Mapping[str, str]] = {"first_name": "Camille", "last_name": "Martin"}


@dataclass(frozen=True, slots=True)
class PreviewWarning:
    """Something the client should know before launching, with the characters or fields involved."""

    code: str
    message: str
    characters: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the warning as JSON-ready data."""
        return {
            "code": self.code,
            "message": self.message,
            "characters": list(self.characters),
            "fields": list(self.fields),
        }


@dataclass(frozen=True, slots=True)
class Preview:
    """The final text of a message and its measure: encoding, length, segments and cost."""

    final_text: str
    encoding: Encoding
    length: int
    characters: int
    segments: int
    cost: int
    mention_added: bool
    advertiser_added: bool
    unsubscribe_link_added: bool
    placeholders: tuple[str, ...]
    warnings: tuple[PreviewWarning, ...] = field(default=())

    @property
    def warning_codes(self) -> tuple[str, ...]:
        """The codes of the warnings, in order."""
        return tuple(w.code for w in self.warnings)

    def warning(self, code: str) -> PreviewWarning | None:
        """Return the warning with this code, if any."""
        return next((w for w in self.warnings if w.code == code), None)

    def to_dict(self) -> dict[str, Any]:
        """Return the preview as JSON-ready data."""
        return {
            "final_text": self.final_text,
            "encoding": self.encoding,
            "length": self.length,
            "characters": self.characters,
            "segments": self.segments,
            "cost": self.cost,
            "mention_added": self.mention_added,
            "advertiser_added": self.advertiser_added,
            "unsubscribe_link_added": self.unsubscribe_link_added,
            "placeholders": list(self.placeholders),
            "warnings": [w.to_dict() for w in self.warnings],
        }


def _distinct(chars: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(chars))


def ucs2_characters(text: str) -> tuple[str, ...]:
    """Return the characters that force a text into UCS-2, in order of first appearance."""
    return _distinct([ch for ch in text if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION])


def preview(
    *,
    text: str,
    kind: str,
    advertiser_name: str | None,
    short_code: str | None,
    sender: str,
    destination_is_french: bool = True,
    sample_fields: Mapping[str, object] | None = None,
    field_defaults: Mapping[str, str] | None = None,
    credits_per_segment: int = 1,
    unsubscribe_url: str | None = None,
    account_mode: str = "marketing",
) -> Preview:
    """Return the final text and its measure, or raise DomainError as composition would."""
    composed = compose(
        text,
        kind=kind,
        advertiser_name=advertiser_name,
        short_code=short_code,
        sender=sender,
        destination_is_french=destination_is_french,
        fields=DEFAULT_SAMPLE_FIELDS if sample_fields is None else sample_fields,
        field_defaults=field_defaults,
        unsubscribe_url=unsubscribe_url,
        account_mode=account_mode,
    )
    final = measure(composed.text, credits_per_segment=credits_per_segment)
    warnings: list[PreviewWarning] = []

    if composed.additions_made:
        own = measure(composed.body, credits_per_segment=credits_per_segment)
        if final.segments > own.segments:
            added = [
                label
                for label, done in (
                    ("the advertiser name", composed.advertiser_added),
                    ("the STOP mention", composed.mention_added),
                    ("the unsubscribe link", composed.unsubscribe_link_added),
                )
                if done
            ]
            excess = final.units - _capacity(final.encoding, own.segments)
            hint = f"; shorten the text by about {excess} characters to keep {own.segments}" if excess > 0 else ""
            warnings.append(
                PreviewWarning(
                    "mention_added_segment",
                    f"Adding {' and '.join(added)} takes the message from {own.segments} to {final.segments} "
                    f"segments{hint}.",
                )
            )

    if final.encoding == "UCS-2":
        chars = ucs2_characters(composed.text)
        warnings.append(
            PreviewWarning(
                "encoding_ucs2",
                f"{' '.join(chars)} cannot be written in GSM-7, so the whole message is sent in UCS-2 "
                "(70 characters per segment instead of 160).",
                characters=chars,
            )
        )
    else:
        doubles = _distinct([ch for ch in composed.text if ch in GSM7_EXTENSION])
        if doubles:
            warnings.append(
                PreviewWarning(
                    "gsm_extension_characters",
                    f"{' '.join(doubles)} count as two characters each in GSM-7.",
                    characters=doubles,
                )
            )

    if composed.defaulted_fields:
        warnings.append(
            PreviewWarning(
                "personalisation_default_used",
                "The sample recipient has no value for "
                + ", ".join(composed.defaulted_fields)
                + "; recipients without one get the default.",
                fields=composed.defaulted_fields,
            )
        )

    return Preview(
        final_text=composed.text,
        encoding=final.encoding,
        length=final.units,
        characters=len(composed.text),
        segments=final.segments,
        cost=final.cost,
        mention_added=composed.mention_added,
        advertiser_added=composed.advertiser_added,
        unsubscribe_link_added=composed.unsubscribe_link_added,
        placeholders=composed.placeholders,
        warnings=tuple(warnings),
    )


def _capacity(encoding: Encoding, segments: int) -> int:
    # Units that fit in `segments` segments: one segment is larger than a concatenated part.
    if segments <= 1:
        return SINGLE_SEGMENT[encoding]
    return segments * CONCATENATED_SEGMENT[encoding]
