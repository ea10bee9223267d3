"""Promotional content: whether a text a client labelled "informative" is in fact an advertisement.

Informative SMS skip every marketing rule (consent, quiet hours, the STOP mention, the blocklist),
so a client acting in bad faith could label a promotion "informative". The platform screens every
informative text with this detector and refuses promotional content sent under that label. Both
kinds of error hurt: a miss lets the law be broken, a false alarm blocks a pharmacy's reminder or a
bank's one-time code. The rule therefore looks for the vocabulary of selling, never for single
words that ordinary notifications also use (an amount, "offre", "gratuit", "nouveauté").

Reading the text
    French and English. The text is folded before matching: Unicode NFKD with the accents
    dropped, then casefold, so "RÉDUCTION", "reduction" and full-width "ＲＥＤＵＣＴＩＯＮ" read alike;
    every kind of space (NBSP, narrow NBSP, tabs, line breaks) is one space and runs collapse;
    invisible format characters (zero-width spaces and joiners, soft hyphens) vanish; curly
    apostrophes and the various dashes and minus signs become ASCII. For the strong signals the
    text is also read a second way, undoing simple disguises: letters spelled apart
    ("S O L D E S", "P.R.O.M.O"), digits and symbols standing for letters inside a word ("s0ldes",
    "pr0mo", "5OLDES"; "1" is tried both as "i" and as "l") and look-alike Cyrillic or Greek letters.
    A word is only "un-disguised" when it has at least two real letters, so codes, prices and
    phone numbers are never turned into words.

Strong signals: any one makes the text promotional
    ``sale`` (soldes; English sale in its selling phrases: "summer sale", "on sale", "sale ends"),
    ``promo`` (promo, promotion, promotionnel, promotional), ``discount`` ("-50%", "50% off",
    "jusqu'à -70%", "remise de 20%", "% de réduction", réduction, rabais, discount, "save 20%",
    "19,90 € au lieu de 29,90 €"), ``promo_code`` (code promo, coupon, voucher, bon de réduction,
    bon d'achat), ``black_friday`` (Black Friday, Cyber Monday, French Days, Prime Day),
    ``private_sale`` (ventes privées), ``flash_sale`` (vente flash, flash sale), ``clearance``
    (déstockage, liquidation totale, "tout doit disparaître"), ``free_offer`` (goods given away:
    "livraison offerte", "1 offerte", "free gift", "essai gratuit", "offert dès 30 €"),
    ``bundle_offer`` ("2 achetés = 1 offert", "buy one get one", "2 for 1", "le 2e à -50%"),
    ``exclusive_offer`` (offre exclusive, spéciale, limitée; special offer), ``good_deal`` (bon
    plan, bonnes affaires, best deals), ``low_price`` (prix cassés, petits prix, meilleur prix,
    moitié prix, "tout à 5 €"), ``contest`` (jeu concours, tentez de gagner, "gagnez 20 €", "win
    a") and ``purchase_threshold`` ("dès 30 € d'achat", "when you spend £50").

Weak signals: promotional only when two *different* ones occur (a strong one needs no company)
    ``price`` ("19,90 €", "€19.90", "19€99", "$5"), ``call_to_buy`` (profitez, achetez, commandez,
    "découvrez nos", shop now, buy now), ``urgency`` ("ce week-end seulement", "dernier jour",
    "jusqu'à dimanche", "dans la limite des stocks", "hurry", "limited time", "ends tonight"),
    ``new_collection`` (nouvelle collection, nouveautés, new arrivals), ``offer`` ("offre" or
    "offer" alone), ``named_code`` ("avec le code NOEL20") and ``purchase_condition`` ("pour tout
    achat"). Two prices are still one weak signal, so an invoice listing amounts is not an
    advertisement.

Words that notifications share with advertisements are excused by their neighbours. Each rule may
carry a veto read in a short window before or after the match:

- "solde(s)" of an account, of leave or of a loan ("les soldes de vos comptes", "ont été soldés")
  is a balance, not a sale; the singular "solde" never counts.
- "promotion" of a school year or a career ("promotion 2024", "félicitations pour votre
  promotion") and disclaimers ("message non promotionnel") are not promotions.
- "réduction" of taxes, traffic, speed, rent or a dose is not a discount; "liquidation" of a
  pension, an estate or a company (liquidation judiciaire) is not a clearance; a transit pass's
  "coupon mensuel" and an airline's compensation voucher are not promo codes.
- "offert" only counts next to goods or a purchase condition, and never when someone gives it
  ("le cadeau offert par votre collègue"); "gratuit" and "free" alone never count (free call,
  free of charge, toll-free). English "sale" alone does not count (French "sale" means dirty).
- "-2%" beside market words (indice, taux, portefeuille) is a variation, not a discount;
  decimal percentages and negative amounts (bank debits "-49,90 €") are not discounts.
- "votre offre" (a subscription plan), "offre d'emploi", "offre de prêt", "your offer has been
  accepted" are not the weak ``offer``; "profitez de votre séjour" is not a call to buy;
  "dernier jour pour payer", a pick-up or closure "jusqu'à samedi" and "votre location se
  termine ce soir" are not urgency.
- "2 for 1" and "3 pour 2" count only when more is had than paid for, and not for people, nights
  or journeys ("1 ticket pour 2 trajets", "chambre pour 2 personnes pour 1 nuit").

Every pattern is compiled at import, anchored on a literal or a look-behind and built from bounded
repetitions, so matching is linear in the length of the text; the result is cached per text since
a campaign sends one text to many recipients. An excerpt quotes the original text (spaces tidied)
over the words that matched. ``DETECTOR_VERSION`` changes whenever the rule changes, so a refusal
recorded beside it says which rule judged.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from halte_rules.lookalikes import LATIN_LOOKALIKES

__all__ = [
    "DETECTOR_VERSION",
    "STRONG_SIGNALS",
    "WEAK_SIGNALS",
    "PromotionalSignal",
    "is_promotional",
    "promotional_signals",
]

DETECTOR_VERSION: Final = "1"

STRONG_SIGNALS: Final = frozenset(
    {
        "sale",
        "promo",
        "discount",
        "promo_code",
        "black_friday",
        "private_sale",
        "flash_sale",
        "clearance",
        "free_offer",
        "bundle_offer",
        "exclusive_offer",
        "good_deal",
        "low_price",
        "contest",
        "purchase_threshold",
    }
)
WEAK_SIGNALS: Final = frozenset(
    {"price", "call_to_buy", "urgency", "new_collection", "offer", "named_code", "purchase_condition"}
)
#: How many distinct weak signals make a text promotional without a strong one.
WEAK_SIGNALS_NEEDED: Final = 2

_MAX_EXCERPT: Final = 60
# Vetoes read this many folded characters around a match: enough for a few words, and a bound
# that keeps each veto's cost constant.
_WINDOW: Final = 48


@dataclass(frozen=True, slots=True)
class PromotionalSignal:
    """One piece of evidence that a text advertises: a stable name and the words that showed it."""

    name: str
    excerpt: str


# --- Folding -------------------------------------------------------------------------------------

# Applied before NFKD: some of these (the acute accent) would otherwise decompose into a space.
_PRE_FOLD: Final = str.maketrans(
    {
        "\u2019": "'",
        "\u2018": "'",
        "\u02bc": "'",
        "\u02b9": "'",
        "\u0060": "'",
        "\u00b4": "'",
        "\u2032": "'",
        "\uff07": "'",
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
        "\ufe63": "-",
        "\uff0d": "-",
        "\u0153": "oe",
        "\u0152": "oe",
        "\u00e6": "ae",
        "\u00c6": "ae",
        "\u00f8": "o",
        "\u00d8": "o",
        "\u0142": "l",
        "\u0141": "l",
        "\u0111": "d",
        "\u0110": "d",
        "\u0131": "i",
    }
)

# Only the de-obfuscated reading uses the look-alikes, so genuine Cyrillic or Greek text keeps its letters.
_HOMOGLYPHS: Final = str.maketrans(dict(LATIN_LOOKALIKES))

_LEET_I: Final = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "|": "l"}
)
_LEET_L: Final = str.maketrans(
    {"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "|": "l"}
)
_LEET_CHARS: Final = frozenset("0134573@$!|")
# "!" and "|" stand for letters only inside a word: "SOLDES!" keeps its exclamation mark.
_LEET_TOKEN_RE: Final = re.compile(r"[a-z0-9$@]+(?:[!|][a-z0-9$@]+)*")
_SPELLED_TOKEN_RE: Final = re.compile(r"[a-z0-9$@]+")
_SPELLING_GAP: Final = frozenset(" .-_*/+:·~")
_MIN_SPELLED: Final = 4


@functools.lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    if ch.isspace():
        return " "
    category = unicodedata.category(ch)
    if category == "Cf":
        return ""
    if category == "Cc":
        return " "
    decomposed = unicodedata.normalize("NFKD", ch.translate(_PRE_FOLD))
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().translate(_PRE_FOLD)
    return "".join(" " if c.isspace() else c for c in folded)


@dataclass(frozen=True, slots=True)
class _View:
    """A folded reading of the text, and for each of its characters the index it came from."""

    text: str
    origin: tuple[int, ...]


def _fold(text: str) -> _View:
    chars: list[str] = []
    origin: list[int] = []
    after_space = True
    for index, ch in enumerate(text):
        for c in _fold_char(ch):
            if c == " ":
                if after_space:
                    continue
                after_space = True
            else:
                after_space = False
            chars.append(c)
            origin.append(index)
    return _View("".join(chars), tuple(origin))


def _spelled_runs(text: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    # "S O L D E S" / "P.R.O.M.O": runs of single-character tokens separated by a short gap. A
    # scan rather than a regex, so that a long run stays linear. A letter before an apostrophe is
    # an elision ("d'été"), never part of a spelled word.
    tokens = [(m.start(), m.end()) for m in _SPELLED_TOKEN_RE.finditer(text)]

    def single(k: int) -> bool:
        start, end = tokens[k]
        return end - start == 1 and not text.startswith("'", end)

    runs: list[tuple[int, int]] = []  # (first token index, last token index)
    i = 0
    while i < len(tokens):
        j = i
        if single(i):
            while (
                j + 1 < len(tokens)
                and single(j + 1)
                and 1 <= tokens[j + 1][0] - tokens[j][1] <= 3
                and all(c in _SPELLING_GAP for c in text[tokens[j][1] : tokens[j + 1][0]])
            ):
                j += 1
        if j - i + 1 >= _MIN_SPELLED and sum(text[tokens[k][0]].isalpha() for k in range(i, j + 1)) >= 2:
            runs.append((i, j))
        i = j + 1
    return tokens, runs


def _join_spelled(view: _View) -> list[_View]:
    tokens, runs = _spelled_runs(view.text)
    if not runs:
        return [view]
    # A one-letter word may stand next to a spelled one ("S O L D E S a Paris", "y P R O M O"): the
    # runs are also read without their first letter, their last, or both.
    joined: list[_View] = []
    for trim_first, trim_last in ((0, 0), (1, 0), (0, 1), (1, 1)):
        kept = [(a + trim_first, b - trim_last) for a, b in runs if b - a + 1 - trim_first - trim_last >= _MIN_SPELLED]
        if kept or not joined:
            joined.append(_join_runs(view, tokens, kept))
    return joined


def _join_runs(view: _View, tokens: list[tuple[int, int]], runs: list[tuple[int, int]]) -> _View:
    text = view.text
    chars: list[str] = []
    origin: list[int] = []
    cursor = 0
    for first, last in runs:
        start = tokens[first][0]
        chars.append(text[cursor:start])
        origin.extend(view.origin[cursor:start])
        for k in range(first, last + 1):
            chars.append(text[tokens[k][0]])
            origin.append(view.origin[tokens[k][0]])
        cursor = tokens[last][1]
    chars.append(text[cursor:])
    origin.extend(view.origin[cursor:])
    return _View("".join(chars), tuple(origin))


def _unleet(text: str, table: dict[int, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if sum(c.isascii() and c.isalpha() for c in token) < 2 or not _LEET_CHARS.intersection(token):
            return token
        return token.translate(table)

    return _LEET_TOKEN_RE.sub(replace, text)


def _deobfuscated(plain: _View) -> list[_View]:
    views: list[_View] = []
    seen = {plain.text}
    for joined in _join_spelled(plain):
        base = joined.text.translate(_HOMOGLYPHS)
        # Every substitution is one character for one, so the joined view's origins still apply.
        for reading in (base, _unleet(base, _LEET_I), _unleet(base, _LEET_L)):
            if reading not in seen:
                seen.add(reading)
                views.append(_View(reading, joined.origin))
    return views


# --- Rules ---------------------------------------------------------------------------------------


def _c(source: str) -> re.Pattern[str]:
    # "~" joins words that may be written together, hyphenated or apart: "code~promo" also reads
    # "codepromo" and "code-promo", "jusqu~a" reads "jusqu'a" and "jusqu a".
    return re.compile(source.replace("~", r"[ '\-]?"))


@dataclass(frozen=True, slots=True)
class _Rule:
    name: str
    pattern: re.Pattern[str]
    before: re.Pattern[str] | None = None  # vetoes when it matches the end of the preceding window
    after: re.Pattern[str] | None = None  # vetoes when it matches the start of the following window
    accept: Callable[[re.Match[str]], bool] | None = None

    @property
    def strong(self) -> bool:
        return self.name in STRONG_SIGNALS


def _rule(
    name: str,
    source: str,
    *,
    before: str | None = None,
    after: str | None = None,
    accept: Callable[[re.Match[str]], bool] | None = None,
) -> _Rule:
    if name not in STRONG_SIGNALS | WEAK_SIGNALS:
        raise ValueError(f"unknown signal {name}")
    return _Rule(
        name,
        _c(source),
        _c(rf"(?:{before})$") if before else None,
        _c(after) if after else None,
        accept,
    )


_NUMBER_WORDS: Final = {
    "un": 1,
    "une": 1,
    "one": 1,
    "deux": 2,
    "two": 2,
    "trois": 3,
    "three": 3,
    "quatre": 4,
    "four": 4,
}


def _quantity(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBER_WORDS.get(word, 0)


def _more_for_less(match: re.Match[str]) -> bool:
    # "2 for 1", "3 pour 2" sell more than is paid for; "1 ticket pour 2 trajets" does not.
    return _quantity(match.group("got")) > _quantity(match.group("paid")) > 0


_AMOUNT: Final = r"(?:[€$£] ?\d{1,4}(?:[.,]\d{1,2})?|\d{1,4}(?:[.,]\d{1,2})? ?(?:€|euros?\b|\$|£))"
_PURCHASE: Final = rf"(?:(?:tout |toute |chaque |l~|votre |un |une )?(?:achats?|commandes?)\b|{_AMOUNT} d~achats?\b)"
_SCOPE: Final = (
    r"(?:tout|toute|tous|toutes|l~ensemble|une selection|(?:le|la) (?:2|3|deuxieme|troisieme|second)"
    r"|nos|les articles|la collection|everything|all|selected)\b"
)
_ENGLISH_PURCHASE: Final = r"(?:(?:any|every|all|your) )?(?:purchases?|orders?(?: over)?)"
_GIVEN_BY: Final = r" (?:par|de la part|from|by)\b"
_GOODS: Final = (
    r"(?:cadeaux?|echantillons?|essais?|articles?|produits?|mois|semaines?|desserts?|boissons?|cafes?|verres?"
    r"|seances?|cours|coffrets?|accessoires?|soins?|menus?|entrees?|abonnements?|installations?|bouteilles?"
    r"|trousses?|goodies|lots?|surprises?|diagnostics?|bilans?|nuits?|paquets?|places?|cocktails?|aperitifs?)"
)
_DAYS: Final = r"(?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche)"
_ORDINAL: Final = r"(?:2|3|4|5|deuxieme|troisieme|quatrieme|second|seconde)(?:e|eme|nd|nde|rd|th)?"
_FREE: Final = r"(?:offerte?s?|gratuite?s?)"

_RULES: Final[tuple[_Rule, ...]] = (
    # -- sale
    _rule(
        "sale",
        r"\bsoldes\b",
        before=r"\b(?:ete|etre|avoir ete) ",
        after=(
            r" (?:(?:de|du|des|d~) ?(?:(?:votre|vos|ton|tes|son|ses|leur|leurs|mon|mes|ce|ces|chaque|tout|tous"
            r"|l~|la|le|les|\d{1,2}) ?){0,2}(?:comptes?|conges?|rtt|livrets?|credits?|prets?|points|cagnottes?"
            r"|factures?|dossiers?|cartes? bancaires?)\b|(?:crediteurs?|debiteurs?|disponibles?|bancaires?"
            r"|comptables?|restants?|positifs?|negatifs?)\b)"
        ),
    ),
    _rule("sale", r"\b(?:mis(?:es?)? en solde|en solde|solde d~(?:ete|hiver|printemps|automne))\b"),
    _rule(
        "sale",
        r"\b(?:on|summer|winter|spring|autumn|fall|big|mega|huge|massive|clearance|seasonal|holiday|christmas"
        r"|xmas|easter|january|warehouse|final|annual|anniversary|weekend|closing~down|end~of~season|stock"
        r"|store~wide|site~wide|mid~season|half~term|boxing~day|bank~holiday|for) sale\b",
    ),
    _rule(
        "sale",
        r"\bsales? (?:now on|ends?\b|starts?\b|is (?:now )?on\b|prices?\b|items?\b|event\b|of the year|up to"
        r"|on (?:all|everything|selected)|- ?\d)",
    ),
    # -- promo
    _rule(
        "promo",
        r"\bpromo(?:s|tions?|tionnel(?:le)?s?|tional)?\b",
        before=(
            r"(?:\bnon~|\bnot (?:an? )?|\bpas (?:une? |de |d~)?|\bsans |\bno |\baucune? )"
            r"(?:message |sms |contenu |caractere |texte )?|\b(?:felicitations?|bravo|congratulations?) "
            r"(?:pour|a l~occasion de|on|for) (?:votre|ta|sa|your) "
        ),
        after=(
            r" ?(?:(?:19|20)\d\d\b|interne|professionnelle|sociale|de la sante|au grade|au poste|to (?:manager"
            r"|senior|director|lead|head|the position))"
        ),
    ),
    # -- discount
    _rule(
        "discount",
        r"(?:\bjusqu~a ?|\bup to ?)?(?<![\d%.,+\-])- ?\d{1,2} ?%",
        before=(
            r"\b(?:cac ?40|bourse|indices?|portefeuille|cours|taux|variation|rendement|performance|inflation"
            r"|croissance|chomage|sondage|batterie|temperature|market|stocks?|index)\b[^.!?]{0,24}"
        ),
    ),
    _rule(
        "discount",
        r"(?<![\d.,])(?:\bjusqu~a |\bup to )?\d{1,2} ?% (?:off\b|de (?:reduction|remise|rabais|reduc)\b"
        rf"|d~(?:economies?|escompte)\b|offerts?\b|moins cher|discount|sur {_SCOPE}|on {_SCOPE})",
    ),
    _rule(
        "discount",
        rf"(?<![\d.,]){_AMOUNT} (?:off\b|de (?:reduction|remise|rabais)\b|d~economies?\b|de moins\b"
        rf"|offerts? (?:des|sur|pour|a partir|avec)\b)",
    ),
    _rule(
        "discount",
        rf"(?<![\d%.,+\-])- ?\d{{1,3}} ?(?:€|euros?\b)(?= (?:des\b|a partir|de remise|de reduction|sur {_SCOPE}))",
    ),
    _rule(
        "discount",
        rf"(?<![\d.,]){_AMOUNT} (?:au lieu de|instead of) {_AMOUNT}|\bwas {_AMOUNT},? now {_AMOUNT}",
    ),
    _rule(
        "discount",
        r"\bremises? (?:immediates?|exceptionnelles?|speciales?|de (?:fidelite|bienvenue)\b|sur (?:tout|toute"
        r"|tous|toutes|l~ensemble|nos|une selection|votre prochaine?)\b|de \d{1,3}(?:[.,]\d{1,2})? ?(?:%|€|euros?\b))",
    ),
    _rule(
        "discount",
        r"\b(?:reductions?|reduc|rabais|discounts?|discounted|ristournes?|price~cuts?|money~off"
        r"|economisez (?:jusqu~a )?(?:\d|[€$£])|save (?:up to )?(?:\d|[€$£]))",
        after=(
            r" (?:d~impots?|fiscales?|du (?:trafic|service|temps|risque|bruit|nombre|debit|personnel)\b|de (?:la |l~"
            r"|votre |vos |des |du )?(?:vitesse|consommation|capacite|debit|trafic|service|effectifs?|bruit|peine"
            r"|dette|dose|posologie|traitement|fracture|emissions?|pollution|temps|risques?|horaires?|frequence"
            r"|voilure|impots?|loyers?|mensualites?|allocations?|aides?|apl|salaires?"
            r"|temps de travail)\b|des (?:horaires|effectifs|risques|emissions|delais|couts)\b|rate\b)"
        ),
    ),
    # -- promo_code
    _rule(
        "promo_code",
        r"\b(?:codes? ~promo(?:tionnel)?s?|promo~codes?|coupons?(?: codes?)?|vouchers?(?: codes?)?"
        r"|discount~codes?|codes? (?:de )?(?:reduction|reduc|remise|avantage|privilege)\b|bons? (?:de reduction"
        r"|d~achats?|de remise|promo)\b|cheques? (?:de )?reduction)",
        # A transit pass's monthly "coupon" and an airline's compensation voucher sell nothing.
        before=r"\b(?:travel|compensation|refund|remboursement|indemnisation) ",
        after=(
            r" (?:mensuel|hebdomadaire|annuel|navigo|de transport|d~abonnement|de reponse|de compensation"
            r"|d~indemnisation|de remboursement|for (?:the |your )?(?:cancell?ed|delayed|disrupted))\b"
        ),
    ),
    # -- shopping events
    _rule(
        "black_friday",
        r"\b(?:black~friday|black~week(?:~end)?|cyber~monday|cyber~week|french~days|prime~days?|singles~day)\b",
    ),
    _rule("private_sale", r"\b(?:ventes? privees?|private~sales?)\b"),
    _rule("flash_sale", r"\b(?:ventes? flash|flash~sales?|offres? flash|promos? flash|flash~deals?)\b"),
    _rule("clearance", r"\b(?:grand |grande )?(?:destockage|destocke|tout doit disparaitre)\b"),
    _rule(
        "clearance",
        r"\b(?:grande |grosse )?liquidation\b",
        before=(
            r"\b(?:dossier|demande|procedure|jugement|mise|etat|attestation|date|montant|notification|avis)"
            r" (?:de |d~|en )?(?:la )?"
        ),
        after=(
            r" (?:judiciaire|amiable|de (?:la |votre |vos |sa |ses |l~|d~|des |du )?(?:retraite|pension|droits"
            r"|succession|communaute|societe|entreprise|sinistre|indemnite|astreinte|impot|tva|dossier|regime"
            r"|compte|biens|patrimoine|rente|allocation))"
        ),
    ),
    # -- free goods and bundles
    _rule(
        "free_offer",
        r"\b(?:livraisons?|frais de (?:port|livraison|dossier|d~envoi|d~expedition|mise en service|installation"
        r"|inscription|resiliation)|expeditions?|retours?|shipping|delivery|returns) (?:offerte?s?|gratuite?s?|free"
        r"|offered)\b",
    ),
    _rule(
        "free_offer",
        r"\bfree (?:delivery|shipping|returns?|gifts?|samples?|trial|desserts?|drinks?|coffees?|items?|bags?|upgrade"
        r"|months?)\b",
    ),
    _rule("free_offer", rf"\b{_GOODS}(?: (?:d~essai|de bienvenue))? {_FREE}\b", after=_GIVEN_BY),
    _rule(
        "free_offer",
        rf"\b(?:{_FREE}|free) (?:(?:des|a partir de|pour|avec) {_PURCHASE}|(?:with|for|on|when you spend) "
        rf"(?:{_ENGLISH_PURCHASE}|{_AMOUNT}))",
    ),
    _rule(
        "free_offer",
        rf"\b(?:cadeaux?|gifts?|surprises?|echantillons?|samples?) (?:(?:pour|avec|des|a partir de) {_PURCHASE}"
        rf"|(?:with|for) {_ENGLISH_PURCHASE})",
    ),
    _rule("free_offer", rf"(?<![\d.,])\d{{1,2}} (?:[a-z]{{1,15}} )?{_FREE}", after=_GIVEN_BY),
    _rule(
        "bundle_offer",
        r"(?<![\d.,])\b(?:\d{1,2}|un|une|deux|trois|quatre) (?:[a-z]{1,15} ){0,2}achete(?:e|es|s)? ?[=,:+/]? ?"
        rf"(?:et )?(?:(?:le|la) )?(?:\d{{1,2}}|un|une)(?:e|er|ere|eme)? ?(?:[a-z]{{1,15}} ){{0,2}}{_FREE}",
    ),
    _rule(
        "bundle_offer",
        rf"\b(?:le|la|les|the) {_ORDINAL} (?:[a-z]{{1,15}} ){{0,2}}?(?:(?:a|at|for) )?(?:{_FREE}|free\b"
        r"|-? ?\d{1,2} ?%|moitie prix|half~price|1 ?(?:€|(?:euro|centime|cent)s?\b))",
    ),
    _rule(
        "bundle_offer",
        r"\bbuy (?:\d|one|two|three),? get (?:\d|one|two|a|another)\b(?: [a-z]{1,15})?(?: free| half~price"
        r"| at \d{1,2} ?% off)?",
    ),
    _rule("bundle_offer", r"\bbogof?\b"),
    _rule("bundle_offer", rf"(?<![\d.,])\d ?\+ ?\d (?:{_FREE}|free)\b"),
    _rule(
        "bundle_offer",
        r"(?<![\d.,])\b(?P<got>\d|deux|trois|quatre|two|three|four) (?:[a-z]{1,15} )?(?:pour|for) "
        r"(?:le prix d~|the price of )?(?P<paid>\d|un|une|deux|trois|one|two|three)\b",
        after=(
            r" (?:nuits?|nights?|personnes?|persons?|people|adultes?|adults?|heures?|hours?|jours?|days?|semaines?"
            r"|weeks?|mois|months?|ans?|years?|enfants?|children|kids?|minutes?|seconds?|trajets?|voyages?)\b"
        ),
        accept=_more_for_less,
    ),
    # -- offers, deals, prices
    _rule(
        "exclusive_offer",
        r"\boffres? (?:tres |super )?(?:exclusives?|speciales?|limitees?|exceptionnelles?|promotionnelles?"
        r"|privileges?|reservees? (?:aux|a nos)|de lancement|du moment|irresistibles?|inedites?|chocs?"
        r"|incroyables?)\b",
    ),
    _rule(
        "exclusive_offer",
        r"\b(?:exclusive|special|limited|limited~time|introductory|launch|exceptional|irresistible|unbeatable)"
        r" (?:offers?|deals?)\b",
    ),
    _rule(
        "good_deal",
        r"\b(?:bons? ~plans?|bonnes? affaires?|super affaires?|(?:great|best|hot|top|amazing|incredible|huge|big)"
        r" deals?|deals? of the (?:day|week|month)|affaires? a (?:saisir|ne pas manquer))\b",
    ),
    _rule(
        "low_price",
        r"\b(?:prix (?:casses|chocs?|minis?|bas|imbattables?|barres|sacrifies|fous|doux|canons?|d~amis?"
        r"|exceptionnels?|reduits|ecrases|degriffes|discount|usine|de gros)|a prix (?:speciaux?|special|reduits?"
        r"|coutant)|petits? prix|(?:meilleurs?|plus bas) prix|prix (?:les )?plus bas|moitie prix|half~price"
        r"|(?:best|lowest|low|unbeatable|crazy|slashed|reduced|special|bargain|rock~bottom) prices?)\b",
    ),
    _rule("low_price", rf"\b(?:tout|tous|everything|all) (?:a|at|for) {_AMOUNT}"),
    _rule(
        "contest",
        r"\b(?:jeux? ?~concours|tentez (?:de gagner|votre chance)|(?:lots?|cadeaux?|voyages?|bons? d~achat)"
        r" a gagner|gagnez (?:un|une|des|votre|vos|jusqu~a|\d{1,6}|[€$£])|chance to win"
        r"|win (?:a|an|one|your|\d{1,6}|[€$£])"
        r"|giveaways?|sweepstakes?|prize draw)\b",
    ),
    _rule("contest", rf"(?<![\d.,]){_AMOUNT} a gagner\b"),
    _rule("contest", rf"\b(?:gagnez|win) (?:jusqu~a |up to )?{_AMOUNT}"),
    _rule(
        "purchase_threshold",
        rf"\b(?:(?:des|a partir de|pour|au dela de) {_AMOUNT} d~achats?\b|minimum d~achats? (?:de )?{_AMOUNT})",
    ),
    _rule(
        "purchase_threshold",
        r"\b(?:when you spend|spend|(?:on|for) (?:orders?|purchases?) (?:over|above|of)|minimum (?:order|purchase"
        rf"|spend)(?: of)?) {_AMOUNT}",
    ),
    # -- weak signals
    _rule(
        "price",
        r"(?<![\d.,])(?:(?:\d{1,3}(?:[ .]\d{3}){1,3}|\d{1,7})(?:[.,]\d{1,2})? ?(?:€(?:\d{2}(?!\d))?|\$|£"
        r"|eur(?:os?)?\b|usd\b|gbp\b|chf\b|dollars?\b)|(?:[€$£]|\beur |\busd |\bgbp ) ?\d{1,7}(?:[.,]\d{1,2})?)",
    ),
    _rule(
        "call_to_buy",
        r"\b(?:profitez(?:~en)?|achetez|commandez|shoppez|craquez|foncez|offrez~vous|faites~vous plaisir"
        r"|venez (?:vite )?(?:decouvrir|profiter|craquer)|decouvrez (?:vite )?(?:notre|nos|la|les|toute|toutes|tous)"
        r"|parrainez|ne (?:manquez|ratez) pas (?:nos|notre|cette|cet|ce|les|la|le)|(?:shop|buy|order|grab|get) (?:now"
        r"|today|online|yours|it now)|shop (?:the|our|from)|treat yourself|don~t miss(?: out)?|visit our (?:store|shop"
        r"|website))\b",
        after=r" (?:de |d~)?(?:votre|vos|ton|tes|bien|pleinement|du soleil|du beau temps)\b",
    ),
    _rule(
        "urgency",
        r"\b(?:(?:ce|this) (?:week~end|samedi|dimanche|saturday|sunday|soir)|aujourd~hui|today|ce soir|tonight"
        r"|\d{1,2} ?(?:h|heures|hours|jours|days)) (?:seulement|uniquement|only)\b",
    ),
    _rule(
        "urgency",
        r"\b(?:seulement|uniquement|only) (?:(?:ce|this) (?:week~end|samedi|dimanche|saturday|sunday|soir|week"
        r"|semaine)|today|aujourd~hui|tonight|ce soir|pendant \d{1,2} ?(?:h|heures|jours)|for \d{1,2}"
        r" ?(?:hours|days))\b",
    ),
    _rule(
        "urgency",
        r"\b(?:derniers? jours?|last days?)\b",
        after=(
            r" (?:pour (?:payer|regler|deposer|declarer|envoyer|renvoyer|retourner|signer|valider|confirmer"
            r"|renouveler|vous inscrire|s~inscrire|voter|candidater|retirer|recuperer|rendre|transmettre|fournir"
            r"|completer|repondre)|de (?:cours|classe|travail|stage|validite|l~annee|ecole|conges?|vacances"
            r"|l~ecole)|d~(?:ouverture|ecole)|to (?:pay|submit|file|register|apply|vote|return|renew|confirm"
            r"|collect)|of (?:school|term|work))\b"
        ),
    ),
    _rule(
        "urgency",
        r"\b(?:last chance|derniere chance|dernieres heures|last hours|limited~time|for a limited time"
        r"|pour une duree limitee|duree limitee|temps limite|hurry(?: up)?|depechez~vous|faites vite|ne tardez pas"
        r"|don~t wait|act (?:now|fast)|while (?:stocks?|supplies) lasts?|dans la limite des stocks(?: disponibles)?"
        r"|jusqu~a epuisement(?: des stocks)?|stocks? limites?|quantites? limitees?|limited stock"
        r"|plus que \d{1,2} (?:jours?|heures?|h)|only \d{1,2} (?:days?|hours?) left|encore \d{1,2} (?:jours?"
        r"|heures?) pour (?:en )?profiter)\b",
    ),
    _rule(
        "urgency",
        r"\b(?:ends (?:tonight|soon|at midnight)|se termine (?:ce soir|bientot|a minuit))\b",
        # "Votre location se termine ce soir" is the end of a contract, not of an offer.
        before=r"\b(?:votre|vos|ton|ta|tes|your|my|mon|ma|mes) [a-z\-]{1,20} ",
    ),
    _rule(
        "urgency",
        rf"\bjusqu~a (?:ce |cette )?(?:{_DAYS}|ce soir|minuit|demain soir)\b",
        before=(
            r"\b(?:retraits?|retirer|recuperer|recuperez|disponibles?|fermee?s?|fermeture|travaux|conservee?s?"
            r"|gardee?s?|perturbee?s?|perturbations?|interrompue?s?|coupures?|absente?s?|conges|vacances"
            r"|suspendue?s?|reportee?s?|deviee?s?|circulation)\b[^.!?]{0,30}"
        ),
    ),
    _rule(
        "new_collection",
        r"\b(?:nouvelles? collections?|(?:new|spring|summer|autumn|fall|winter|holiday|christmas) collections?"
        r"|now in store|nouveautes?|new arrivals?|new in store|new season"
        r"|nouvelle saison|nouveaux? arrivages?|nouvelle gamme|new range|just (?:arrived|landed)|vien(?:nen)?t"
        r" d~arriver|nouveaux? modeles?|collection (?:printemps|ete|automne|hiver|capsule|(?:19|20)\d\d))\b",
    ),
    _rule(
        "offer",
        r"\b(?:offres?|offers?)\b",
        before=(
            r"\b(?:votre|vos|ta|ton|tes|your|mon|ma|mes|my|son|sa|ses|leur|leurs|his|her|their|job|loan|employment"
            r"|counter|contre)(?: [a-z]{1,15})? ?"
        ),
        after=(
            r" (?:d~(?:emploi|achat|indemnisation)|de (?:pret|credit|soins?|service|stage|logement|location"
            r"|remboursement|rachat|financement|prise en charge|poste|travail|indemnisation|mutuelle|assurance"
            r"|transport)|letter|of (?:a |the )?(?:loan|job|position|employment)|has been|have been|a ete|ont ete"
            r"|est (?:acceptee|refusee|validee|expiree)|accepted|declined|received|recue|acceptee|refusee)\b"
        ),
    ),
    _rule(
        "named_code",
        r"\b(?:(?:avec|utilisez|utiliser|saisissez|entrez|with|use|using|enter|apply) (?:le |the )?code ?:? ?"
        r"[a-z]{3,12}\d{0,3}|codes? ?: ?[a-z]{3,12}\d{1,3})\b",
    ),
    _rule(
        "purchase_condition",
        r"\b(?:pour (?:tout|toute|chaque) (?:achats?|commandes?)|(?:with|for|on) (?:any|every|each)"
        r" (?:purchases?|orders?))\b",
    ),
)

_STRONG_RULES: Final = tuple(rule for rule in _RULES if rule.strong)


# --- Detection -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Found:
    start: int  # in the original text
    end: int
    rank: int
    rule: _Rule


def _matches(view: _View, rules: Sequence[_Rule], found: list[_Found]) -> None:
    text = view.text
    for rank, rule in enumerate(rules):
        for match in rule.pattern.finditer(text):
            start, end = match.span()
            if start == end:
                continue
            if rule.before is not None and rule.before.search(text, max(0, start - _WINDOW), start):
                continue
            if rule.after is not None and rule.after.match(text[end : end + _WINDOW]):
                continue
            if rule.accept is not None and not rule.accept(match):
                continue
            found.append(_Found(view.origin[start], view.origin[end - 1] + 1, rank, rule))


def _excerpt(text: str, start: int, end: int) -> str:
    words = "".join(ch for ch in text[start:end] if unicodedata.category(ch) != "Cf").split()
    excerpt = " ".join(words)
    if len(excerpt) > _MAX_EXCERPT:
        excerpt = excerpt[: _MAX_EXCERPT - 1].rstrip() + "…"
    return excerpt or text[start:end]


@functools.lru_cache(maxsize=1024)
def promotional_signals(text: str) -> tuple[PromotionalSignal, ...]:
    """Every promotional signal found in the text, in text order (empty when none)."""
    plain = _fold(text)
    found: list[_Found] = []
    _matches(plain, _RULES, found)
    for view in _deobfuscated(plain):
        _matches(view, _STRONG_RULES, found)
    # The widest match at a place wins ("code promo" is one promo_code, not also a promo), except
    # that a weak match never hides a strong one, and one kind of signal is not counted twice over
    # overlapping words. Sorted by start, so "contains" reduces to comparing ends: linear.
    found.sort(key=lambda f: (f.start, -f.end, not f.rule.strong, f.rank))
    widest_end = -1
    widest_strong_end = -1
    last_end: dict[str, int] = {}
    signals: list[PromotionalSignal] = []
    for item in found:
        reach = widest_strong_end if item.rule.strong else widest_end
        if item.end <= reach or last_end.get(item.rule.name, -1) > item.start:
            continue
        widest_end = max(widest_end, item.end)
        if item.rule.strong:
            widest_strong_end = max(widest_strong_end, item.end)
        last_end[item.rule.name] = item.end
        signals.append(PromotionalSignal(item.rule.name, _excerpt(text, item.start, item.end)))
    return tuple(signals)


def is_promotional(text: str) -> bool:
    """Whether the text is promotional content: one strong signal, or two different weak ones."""
    signals = promotional_signals(text)
    if any(signal.name in STRONG_SIGNALS for signal in signals):
        return True
    return len({signal.name for signal in signals}) >= WEAK_SIGNALS_NEEDED
