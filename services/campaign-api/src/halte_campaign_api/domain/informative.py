"""Informative means informative: a promotional text is refused under the informative label.

Rule (docs/compliance-rules.md, "Informative messages"): the client chooses a message's kind,
and an informative SMS skips every marketing rule (consent, hours, the STOP mention, the
blocklist). So the text of every informative message is screened with
``halte_rules.promotional``, the detector the dispatcher applies to each message too. A campaign
draft whose informative text is promotional is refused here, with the signals found, before
anything is stored; a unit send reaches the dispatcher, whose refusal (``promotional_content``)
is recorded as the message's decision.
"""

from __future__ import annotations

from halte_campaign_api.domain.errors import DomainError
from halte_rules.promotional import promotional_signals


def check_informative_text(text: str) -> None:
    """Raise DomainError when an informative text is promotional, naming what gave it away."""
    signals = promotional_signals(text)
    if not signals:
        return
    found = ", ".join(f"{signal.name} ({signal.excerpt!r})" for signal in signals[:3])
    raise DomainError(
        "promotional_content",
        f"This text is promotional ({found}): send it as kind 'marketing', where consent, hours, "
        "the STOP mention and the opt-out list apply.",
        "text",
    )
