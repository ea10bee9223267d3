"""Consent: whether a contact's consent record allows a marketing SMS, defined once for every service.

Rule (docs/compliance-rules.md, "Consent"): a marketing SMS to a person needs a legal basis
recorded for that person, and each basis has conditions of its own. campaign-api checks records
on input and counts a campaign's audience with :func:`marketing_consent_refusal`; the dispatcher
decides each message with the same function, so the preview's refusals are the dispatcher's.

Bases, and what each needs before a marketing SMS at instant ``at``:

- ``opt_in``: prior, explicit consent, collected (``collected_at``) no later than ``at``. Accepting
  terms of use, sales terms or a privacy policy is not consent to marketing: a record whose
  wording and source only show such an acceptance is refused (:func:`is_terms_only`).
- ``customer`` (the existing-customer exception): a real purchase (``last_purchase_at``) no later
  than ``at``, less than :data:`CUSTOMER_CONSENT_YEARS` years before ``at``
  (:func:`customer_consent_expires_at`), and a message about products or services similar to
  those bought: the message declares its ``category``, which must be among the record's
  ``purchase_categories``. No declared category, no marketing to customers.
- ``b2b`` (legitimate interest of a professional prospect): the record names the person's
  ``profession`` and the message declares the ``professions`` it concerns, among which it is.
- ``non_commercial`` (legitimate interest, e.g. a charity's appeal): only for accounts the operator
  flagged non-commercial (``account_non_commercial``).
- ``none``, an unknown basis or no record at all: no marketing.

Every basis but ``none`` also needs the number collected (``collected_at``) no later than ``at``.
Labels (categories, professions) compare after :func:`normalise_label`: accents, case, punctuation
and runs of spaces do not matter. Every refusal is a :class:`ConsentRefusal` naming a stable
reason code, the basis, and the missing fact in words.

Pure: no I/O, no clock; instants are aware datetimes passed in.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

BASES: Final = ("opt_in", "customer", "b2b", "non_commercial", "none")
MARKETING_BASES: Final = frozenset({"opt_in", "customer", "b2b", "non_commercial"})

#: The customer exception lasts three years after the last purchase (CNIL recommendation).
CUSTOMER_CONSENT_YEARS: Final = 3

# Reasons, one constant each so that no caller spells them twice.
NO_CONSENT: Final = "no_consent"
OPT_IN_NOT_COLLECTED: Final = "opt_in_not_collected"
OPT_IN_TERMS_ONLY: Final = "opt_in_terms_only"
CONSENT_NOT_COLLECTED: Final = "consent_not_collected"
CUSTOMER_NO_PURCHASE: Final = "customer_no_purchase"
CUSTOMER_CONSENT_EXPIRED: Final = "customer_consent_expired"
CUSTOMER_CATEGORY_NOT_BOUGHT: Final = "customer_category_not_bought"
B2B_PROFESSION_MISSING: Final = "b2b_profession_missing"
B2B_PROFESSION_NOT_CONCERNED: Final = "b2b_profession_not_concerned"
NON_COMMERCIAL_NOT_ALLOWED: Final = "non_commercial_not_allowed"

REFUSAL_REASONS: Final = frozenset(
    {
        NO_CONSENT,
        OPT_IN_NOT_COLLECTED,
        OPT_IN_TERMS_ONLY,
        CONSENT_NOT_COLLECTED,
        CUSTOMER_NO_PURCHASE,
        CUSTOMER_CONSENT_EXPIRED,
        CUSTOMER_CATEGORY_NOT_BOUGHT,
        B2B_PROFESSION_MISSING,
        B2B_PROFESSION_NOT_CONCERNED,
        NON_COMMERCIAL_NOT_ALLOWED,
    }
)

_FIELDS: Final = ("basis", "collected_at", "source", "wording", "last_purchase_at", "profession")


# -- normalisation --------------------------------------------------------------------------

_NON_WORD: Final = re.compile(r"[\W_]+")


@functools.lru_cache(maxsize=16384)
def normalise_text(text: str) -> str:
    """Return text as the consent rules compare it: accents folded, case folded, punctuation as spaces.

    NFKD then combining marks dropped ("é" is "e", "ﬁ" is "fi"), case folded, every run of
    characters that is not a letter or a digit (punctuation, apostrophes, underscores, spaces)
    becomes one space, and the ends are trimmed. Idempotent.
    """
    value = text
    # Case folding can produce marks again ("İ" folds to "i" and a dot): repeat until stable.
    for _ in range(4):
        decomposed = unicodedata.normalize("NFKD", value)
        folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
        tidy = " ".join(_NON_WORD.sub(" ", folded).split())
        if tidy == value:
            break
        value = tidy
    return value


def normalise_label(label: str) -> str:
    """Return a category or profession label as compared: ``"Chaussures "`` and ``"CHAUSSURES"`` match."""
    return normalise_text(label)


def _labels(values: Iterable[str] | None) -> frozenset[str]:
    if isinstance(values, str):
        values = (values,)
    return frozenset(key for key in (normalise_label(v) for v in values or ()) if key)


# -- what a wording or a source shows ---------------------------------------------------------

# Every pattern below reads normalised text (normalise_text): lower case, no accents, words
# separated by single spaces.
_TERMS: Final = re.compile(
    r"\b(?:"
    r"c ?g ?[uv]|cgvu"  # CGU, CGV, C.G.U.
    r"|conditions? generales?"
    r"|conditions? (?:d utilisation|de vente|d usage|de service)"
    r"|(?:accepte|accepter|acceptation|j accepte) (?:les |la |des )?conditions?"
    r"|terms|tos|t (?:c|cs|c s)|eula|user agreement"  # terms of use/service, terms and conditions, T&C
    r"|contrat d utilisation|reglement (?:du jeu|du concours)"
    r"|privacy (?:policy|notice|statement)"
    r"|politique (?:de |des )?(?:confidentialite|vie privee|protection des donnees|donnees personnelles)"
    r"|mentions legales"
    r")\b"
)
# A first-person, positive act of agreeing ("j'accepte", "je souhaite", "I agree", "yes"), then
# within a few words something sent to the person ("recevoir", "receive", "SMS"), and nothing
# negative in between ("je souhaite ne pas recevoir").
_AGREE: Final = (
    r"(?:j accepte|j autorise|je consens|je souhaite|je veux|je desire|je voudrais|je demande|je m abonne"
    r"|je m inscris|oui|d accord|i agree|i accept|i consent|i authori[sz]e|i would like|i d like|i want"
    r"|i wish|yes|sign me up|subscribe me|opt me in|i opt in)"
)
_RECEIVE: Final = (
    r"(?:recevoir|etre (?:contacte|informe|tenu|averti|prevenu)e?s?|m envoyer|me contacter|m ecrire"
    r"|qu on m envoie|que vous m envoyiez|receive|get|be (?:contacted|informed|notified|sent|texted)"
    r"|hear|send me|text me|contact me|sms|textos?|texts?)"
)
_OPT_IN: Final = re.compile(rf"\b{_AGREE}((?: \S+){{0,8}}?) {_RECEIVE}\b")
# A checkbox label in the infinitive: "Recevoir nos offres par SMS".
_OPT_IN_LABEL: Final = re.compile(r"^(?:oui )?(?:recevoir|etre informe\w*|receive|get|send me|text me)\b")
_NEGATION: Final = re.compile(r"\b(?:ne|n|pas|plus|jamais|aucun\w*|not|don t|do not|never|no)\b")
# What makes the thing received marketing: offers, news, promotions, by SMS or otherwise.
_MARKETING: Final = re.compile(
    r"\b(?:offres?|promo\w*|sms|textos?|messages?|newsletters?|lettres? d information|bons? plans?"
    r"|actualites?|nouveautes?|informations? commerciales?|communications?|marketing|publicit\w*"
    r"|prospection|soldes|reductions?|avantages?|evenements?|invitations?|texts?|offers?|deals?|news"
    r"|updates?|promotional|advertising|discounts?|sales)\b"
)
# Consent bundled with an acceptance ("En acceptant les CGU, j'accepte de recevoir..."): not free.
_BUNDLED: Final = re.compile(r"\b(?:en acceptant|en validant|by accepting|by agreeing to)\b")
_ACCOUNT_CREATION: Final = re.compile(
    r"\b(?:creation (?:de |du |d un |d )?(?:mon |votre |un )?compte|compte cree|ouverture (?:de |du |d un )?compte"
    r"|inscription|inscrit|account (?:creation|created|registration|opening|sign ?up)"
    r"|creat(?:e|ed|ing) (?:an |a |your |my )?account|sign ?up|signup|registration|register(?:ed)?"
    r"|signed up|new account)\b"
)


@functools.lru_cache(maxsize=4096)
def is_marketing_opt_in(wording: str | None) -> bool:
    """Tell whether a wording records a positive act of agreeing to receive marketing.

    "J'accepte de recevoir des offres par SMS", "I agree to receive marketing texts", a checkbox
    label "Recevoir nos offres par SMS" are; "J'accepte les CGU", "Je ne souhaite pas recevoir
    d'offres" are not.
    """
    text = normalise_text(wording or "")
    if not text or not _MARKETING.search(text):
        return False
    if _OPT_IN_LABEL.search(text):
        return True
    return any(not _NEGATION.search(match.group(1)) for match in _OPT_IN.finditer(text))


def mentions_terms(text: str | None) -> bool:
    """Tell whether a text names terms of use or sale, or a privacy policy (CGU, CGV, T&C...)."""
    return _TERMS.search(normalise_text(text or "")) is not None


@functools.lru_cache(maxsize=4096)
def is_terms_only(*, source: str | None, wording: str | None) -> bool:
    """Tell whether an opt-in record only shows an acceptance of terms, which is not consent.

    Terms-only when the wording or the source names terms of use or sale, general conditions,
    "T&C" or a privacy policy, unless the wording also records a genuine marketing opt-in
    (:func:`is_marketing_opt_in`). An opt-in phrased as a consequence of the acceptance ("en
    acceptant les CGU...", "by accepting the terms...") is bundled with it: terms-only still.
    """
    wording_terms = mentions_terms(wording)
    if not wording_terms and not mentions_terms(source):
        return False
    if wording_terms and _BUNDLED.search(normalise_text(wording or "")):
        return True
    return not is_marketing_opt_in(wording)


def is_account_creation_only(*, source: str | None, wording: str | None) -> bool:
    """Tell whether a record's source or wording names an account creation (sign-up), not a purchase."""
    return any(_ACCOUNT_CREATION.search(normalise_text(text or "")) for text in (source, wording))


# -- the record -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """A contact's consent record, as stored by campaign-api and carried to the dispatcher."""

    basis: str
    collected_at: datetime | None = None
    source: str | None = None
    wording: str | None = None
    last_purchase_at: datetime | None = None
    profession: str | None = None
    purchase_categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("collected_at", "last_purchase_at"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"consent {name} must be timezone-aware")
        if not isinstance(self.purchase_categories, tuple):
            object.__setattr__(self, "purchase_categories", tuple(self.purchase_categories or ()))

    @classmethod
    def of(cls, record: Any) -> ConsentRecord | None:
        """Return the record read from a mapping or an object with the same fields; None stays None."""
        if record is None or isinstance(record, ConsentRecord):
            return record
        if isinstance(record, Mapping):
            fields: dict[str, Any] = {name: record.get(name) for name in _FIELDS}
            categories = record.get("purchase_categories")
        else:
            fields = {name: getattr(record, name, None) for name in _FIELDS}
            categories = getattr(record, "purchase_categories", None)
        # A record without a basis records no consent at all.
        fields["basis"] = fields.get("basis") or "none"
        return cls(**fields, purchase_categories=tuple(categories or ()))


@dataclass(frozen=True, slots=True)
class ConsentRefusal:
    """Why a record does not allow a marketing SMS: a stable code, the basis, the missing fact in words."""

    reason: str
    basis: str
    missing: str

    def as_dict(self) -> dict[str, str]:
        """Return the refusal as JSON-ready data."""
        return {"reason": self.reason, "basis": self.basis, "missing": self.missing}


def customer_consent_expires_at(last_purchase_at: datetime) -> datetime:
    """Return when the customer exception lapses: three calendar years after the last purchase.

    A 29 February purchase lapses on 28 February, the earlier of the two readings, so that the
    platform never relies on a day the rule may not grant.
    """
    try:
        return last_purchase_at.replace(year=last_purchase_at.year + CUSTOMER_CONSENT_YEARS)
    except ValueError:
        return last_purchase_at.replace(year=last_purchase_at.year + CUSTOMER_CONSENT_YEARS, day=28)


def marketing_consent_refusal(
    record: Any,
    *,
    at: datetime,
    category: str | None,
    professions: Collection[str],
    account_non_commercial: bool,
) -> ConsentRefusal | None:
    """Return why ``record`` does not allow a marketing SMS sent at ``at``, or None when it does.

    ``category`` and ``professions`` are what the message declares it concerns (the products or
    services it is about, the professions it addresses); ``account_non_commercial`` whether the
    operator flagged the sending account non-commercial. ``record`` is a :class:`ConsentRecord`,
    a mapping or an object with its fields, or None.
    """
    return _refusal(
        ConsentRecord.of(record),
        at=at,
        category=category,
        professions=professions,
        account_non_commercial=account_non_commercial,
        message_known=True,
    )


def record_consent_refusal(record: Any, *, at: datetime, account_non_commercial: bool) -> ConsentRefusal | None:
    """Return why ``record`` allows no marketing SMS at ``at`` whatever the message, or None.

    The same checks as :func:`marketing_consent_refusal` except those about what a message
    concerns (a customer's purchase categories, a professional's profession among the message's):
    None means some marketing message may reach the contact.
    """
    return _refusal(
        ConsentRecord.of(record),
        at=at,
        category=None,
        professions=(),
        account_non_commercial=account_non_commercial,
        message_known=False,
    )


def _refusal(
    record: ConsentRecord | None,
    *,
    at: datetime,
    category: str | None,
    professions: Collection[str],
    account_non_commercial: bool,
    message_known: bool,
) -> ConsentRefusal | None:
    if at.utcoffset() is None:
        raise ValueError("at must be timezone-aware")
    if record is None or record.basis not in MARKETING_BASES:
        basis = "none" if record is None else record.basis
        return ConsentRefusal(
            NO_CONSENT, basis, "a marketing basis for this contact (opt_in, customer, b2b or non_commercial)"
        )
    basis = record.basis
    if basis == "non_commercial" and not account_non_commercial:
        return ConsentRefusal(
            NON_COMMERCIAL_NOT_ALLOWED, basis, "the operator's non-commercial flag on the sending account"
        )
    if record.collected_at is None or record.collected_at > at:
        reason = OPT_IN_NOT_COLLECTED if basis == "opt_in" else CONSENT_NOT_COLLECTED
        what = "the consent" if basis == "opt_in" else "the number"
        return ConsentRefusal(reason, basis, f"{what} collected (collected_at) before the message")
    if basis == "opt_in":
        if is_terms_only(source=record.source, wording=record.wording):
            return ConsentRefusal(
                OPT_IN_TERMS_ONLY, basis, "an opt-in to marketing distinct from accepting terms of use or sale"
            )
        return None
    if basis == "customer":
        return _customer_refusal(record, at=at, category=category, message_known=message_known)
    if basis == "b2b":
        profession = normalise_label(record.profession or "")
        if not profession:
            return ConsentRefusal(B2B_PROFESSION_MISSING, basis, "the person's profession (profession)")
        if message_known:
            concerned = _labels(professions)
            if not concerned:
                return ConsentRefusal(
                    B2B_PROFESSION_NOT_CONCERNED, basis, "the professions the message concerns (none declared)"
                )
            if profession not in concerned:
                return ConsentRefusal(
                    B2B_PROFESSION_NOT_CONCERNED,
                    basis,
                    f"a message concerning the profession {record.profession!r}",
                )
        return None
    return None  # non_commercial on a flagged account


def _customer_refusal(
    record: ConsentRecord, *, at: datetime, category: str | None, message_known: bool
) -> ConsentRefusal | None:
    basis = record.basis
    purchase = record.last_purchase_at
    if purchase is None or purchase > at:
        return ConsentRefusal(CUSTOMER_NO_PURCHASE, basis, "a purchase (last_purchase_at) before the message")
    if at >= customer_consent_expires_at(purchase):
        return ConsentRefusal(
            CUSTOMER_CONSENT_EXPIRED,
            basis,
            f"a purchase in the {CUSTOMER_CONSENT_YEARS} years before the message "
            f"(the last one was on {purchase.date().isoformat()})",
        )
    bought = _labels(record.purchase_categories)
    if not bought:
        return ConsentRefusal(
            CUSTOMER_CATEGORY_NOT_BOUGHT, basis, "the categories of what the customer bought (purchase_categories)"
        )
    if not message_known:
        return None
    wanted = normalise_label(category or "")
    if not wanted:
        return ConsentRefusal(
            CUSTOMER_CATEGORY_NOT_BOUGHT,
            basis,
            "the category of products or services the message concerns (none declared)",
        )
    if wanted not in bought:
        return ConsentRefusal(
            CUSTOMER_CATEGORY_NOT_BOUGHT,
            basis,
            f"a purchase in the category {category!r} the message concerns",
        )
    return None
