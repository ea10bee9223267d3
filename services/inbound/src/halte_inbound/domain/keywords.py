"""Reply classification: is an SMS reply to a short code an opt-out, an opt-in, a CONTACT or HELP request?

Rule (SPEC.md rules 5 and 6, from the CNIL guidance quoted in reference/003 and the vendor
pages reference/000, 001, 004): a recipient must be able to object to marketing SMS for free
and simply, by replying STOP to the short code. smsmode (reference/001) states the recipient
"send[s] a message including the word STOP"; the SPEC extends it to any case, accents and
punctuation ("STOP SMS", "Stop 36111"), and to "arrêt", "désabonner", "unsubscribe".
Replying START or UNSTOP re-subscribes (where the account allows it); CONTACT asks who the
advertiser is; HELP/AIDE/INFO asks for help.

A missed opt-out breaks the law (up to EUR 20,000 per reference/000) and keeps sending to
someone who refused; a wrong one costs a confirmation SMS the recipient can answer with
START. So when in doubt, the rule leans to ``stop``, and ``stop`` wins over every other
class. A re-subscription is the opposite: it becomes the new consent (SPEC rule 1 wants a
clear positive act), so ``optin`` is only granted to an unambiguous START/UNSTOP.

How a reply is read:

1. :func:`normalise` reduces it to what the recipient saw and meant: compatibility forms
   folded (full-width, mathematical bold, ligatures), case folded, accents stripped,
   invisible characters (zero-width space, soft hyphen, joiners) removed, Cyrillic/Greek
   letters that look like Latin ones mapped to them, everything that is not a letter or a
   digit (punctuation, NBSP, emoji, newlines) turned into a space, spaces collapsed.
2. ``stop`` if the reply *contains*, anywhere, a word of a family whose only sense is
   opting out: STOP (elongated, repeated, with glued tails, e.g. "Stooop", "STOPSMS",
   "stop36111", and the French verb "stopper": "stoppez", "stoppé"), ARRET/ARRÊT (arrête,
   arrêtez, arrêter), désabonner (désabonnez, désabonnement), désinscrire (désinscription),
   UNSUBSCRIBE, OPTOUT/OPT-OUT, STOPALL; or the same word spelled as single letters
   ("S T O P"); or an opt-out phrase ("plus de sms", "ne m'envoyez plus", "remove me",
   "no more texts", ...); or the STOP road sign emoji.
3. Otherwise the reply is reduced to its *core*: politeness words (merci, svp, stp, please,
   thanks, bonjour, ok, ...), "me"/"moi", "sms", "au", "all"/"tout", the short code (any
   5-digit number, or any of ``short_codes``) are dropped. Everyday words that platforms
   honour as opt-outs only on their own (CANCEL, END, QUIT, REVOKE, REMOVE, and their French
   counterparts ANNULER, FIN, plus HALT/HALTE) give ``stop`` only when the core is made of
   keywords alone. "cancel my appointment" stays ``other``.
4. English inflections of STOP ("stops", "stopped", "stopping") and the German "stopp" are
   also the verb of everyday sentences ("the bus stops here"), so they give ``stop`` only when
   said as an order: the core is made of keywords and such forms alone, or the form is the
   core's first word (a greeting or the short code before it does not count), or an opt-out
   object follows it, past two determiners at most ("stopped les sms", "stopping all your
   texts", "stops 36111"). Inside a sentence otherwise they are ``other``.
5. ``optin`` when the core is START/UNSTOP only; ``contact`` when the core is CONTACT (with
   HELP words at most); ``help`` when the core is HELP/AIDE/INFO only; else ``other``.
   A CONTACT request is answered with an SMS the account pays for (SPEC: notifier), so
   sentences that merely mention these words are left for a human (the raw text is kept as
   evidence either way).

Decision table for the ambiguous cases (a test pins each row):

==============================================  =======  =====================================================
Reply                                           Class    Why
==============================================  =======  =====================================================
"STOP", "stop.", "Stooop", "STOP!!!", "Stop😡"  stop     the word itself, any case/punctuation/elongation/emoji
"STOPSTOPSTOP"                                  stop     repeated for emphasis
"STOP SMS", "Stop pub", "STOP au 36111"         stop     the legal mention copied back
"STOPSMS", "stop36111", "stop2", "36111STOP"    stop     glued tails/digits are the same word typed in a hurry
"STOPALL", "stop all"                           stop     platform keyword; STOP is there anyway
"STOPPER", "stoppez", "stopez", "stoppé"        stop     French verb "stopper" (and its misspelling)
"le bus stoppe ici", "Je vais stoppez"          stop     French forms count anywhere, unlike English ones: a
                                                         reply to an ad does not narrate with them
"stoppen"                                       stop     German infinitive: no English or French sentence uses
                                                         it, so it counts anywhere like the French forms
"stops", "Stopped!", "stopping", "Stopp"        stop     English inflections, German spelling: the whole reply
"Stopped! no more", "Stopping these texts       stop     first word of the reply: an order, not a narration
please", "stopped sending me these?"
"Bonjour, stopping these", "36111 stopped"      stop     a greeting or the short code is not a first word
"Hi, stopped by the shop yesterday"             stop     same; a visit told this way costs one SMS
"stops sms", "stopped les sms", "stopping       stop     followed by an opt-out object (those of "plus de",
all your texts", "stops 36111", "stopp pub"              "no more", or the short code), past two determiners
"START stopped", "help stops"                   stop     keywords only; STOP wins over every other class
"Bitte Stopp", "SMS stopp"                      stop     German politeness and "sms" are fillers: it is alone
"stoppedsms", "svpstops"                        stop     glued to a tail or politeness: typed as a keyword
"stopppp"                                       stop     three "p"s or more elongate STOP; "pp" is the German
                                                         form
"the bus stops here", "my order stopped         other    the verb of a sentence, nothing to opt out of
arriving", "my parcel stopped at the depot"
"it keeps stopping", "he stooped down"          other    same ("stooped" reads as an elongated "stopped")
"the app stopped sending texts"                 other    the object must follow the form itself: a phone that
                                                         "stopped sending messages" is a complaint
"Not interested. Stopped."                      other    only the reply's first word leads; a form closing a
                                                         sentence reads like "it keeps stopping"
"Werbung stopp"                                 other    German sentences are not parsed; "Stopp Werbung"
                                                         leads
"stopover", "stopwatch", "stoplight"            other    a different English word, not a form of STOP
"nonstop", "backstop"                           other    letters glued before STOP make another word
"UNSTOP"                                        optin    re-subscription keyword (SPEC rule 5)
"UN STOP", "un-stop"                            stop     STOP stands as a word; French "un stop" is "a stop"
"S T O P", "S.T.O.P", "s-t-o-p", "A R R E T"    stop     single letters spelling the keyword: deliberate
"ST OP", "sto p"                                other    joining arbitrary pieces would read "it's top" as STOP
"S\\u200bTOP", "ST\\u00adOP" (invisible chars)    stop     the recipient saw STOP on screen
"ＳＴＯＰ", "𝐒𝐓𝐎𝐏", "ЅТОР" (Cyrillic)             stop     compatibility/homoglyph forms display as STOP
"🛑" (octagonal sign)                           stop     the STOP road sign; most phones render the word
"✋", "⛔", "🚫", "👎"                           other    a reaction, not a request; no keyword in it
"ne pas stop", "pas stop", "non stop"           stop     a reply containing STOP (SPEC rule 5); negation is not
                                                         parsed reliably and the error costs one SMS
"don't stop", "non-stop"                        stop     same
"STOP?", "stop ?", "c'est quoi stop"            stop     same: the word is there, lean to opt-out
"STOP START", "START STOP", "stop contact"      stop     STOP wins over every other class
"merci de stop", "je veux que ça STOP"          stop     STOP anywhere as a word (issue: beyond one-word replies)
"Arrêt", "ARRET", "arrete", "Arrêtez !"         stop     French word for stop, anywhere as a word
"Arrêtez de m'envoyer des sms"                  stop     same
"aret", "arête"                                 stop     dropped double letter is a common phone typo; the fish
                                                         bone/ridge sense is implausible as a reply
"je suis à l'arrêt de bus"                      stop     ARRET is honoured anywhere; lean to opt-out
"stp", "STP merci", "Stp ?"                     other    French "s'il te plaît", not STOP
"Stop stp"                                      stop     STOP is there
"stpo", "sotp", "tsop" (alone)                  stop     letter swaps of STOP; not words in FR/EN
"top", "step", "shop", "stoo"                   other    real words / too far from STOP
"désabonner", "desabonnez-moi", "désabo"        stop     only sense is opting out, honoured anywhere
"désinscription", "je veux me désinscrire"      stop     same
"je ne veux pas me désabonner"                  stop     negation not parsed; lean (START restores)
"UNSUBSCRIBE", "unsubscribe me please", "unsub" stop     only sense is opting out, honoured anywhere
"OPTOUT", "OPT-OUT", "opt me out"               stop     same
"CANCEL", "END", "QUIT", "REVOKE", "REMOVE"      stop     platform keywords, when they are the whole reply
"Cancel please", "END 36111", "remove me"       stop     give or take politeness, short code, me/moi
"ANNULER", "FIN", "HALTE", "HALT" (alone)       stop     French counterparts of CANCEL/END; "halte" means stop
"Cancel my order", "je veux annuler"            other    everyday sentences; the keyword is not the reply
"the end of the movie", "I quit smoking"        other    same
"annuler mon rendez-vous", "cancel 2"           other    same (a bare number that is not a short code is content)
"cancel my subscription", "annuler mon          stop     asking to end the subscription is asking to opt out
abonnement"
"plus de sms", "plus de pub svp"                stop     "no more SMS"; "plus de pub" could read "more ads",
                                                         nobody replies that to an ad
"pas de sms", "pas de pub"                      stop     "no SMS", the French "Stop pub" sticker wording
"ne m'envoyez plus rien", "je ne veux plus",    stop     refusal of further messages
"ne me contactez pas"
"no more texts", "don't text me", "do not       stop     same, in English
contact me"
"remove my number", "supprimez mon numéro",     stop     asking to be taken off the list (an erasure request
"retirez-moi de la liste", "take me off"                 includes the opt-out)
"laissez-moi tranquille", "leave me alone"      stop     refusal of further messages
"Non", "No", "NON MERCI" (alone)                other    usually answers the message's question (poll, offer)
"START", "Start 36111", "start svp", "UNSTOP"   optin    re-subscription keyword, alone
"START ME UP", "restart", "start the car"       other    consent must be unambiguous (SPEC rule 1)
"START HELP", "start info"                      other    mixed request; not a clear positive act
"CONTACT", "contact svp", "Contact 36111"       contact  SPEC rule 6
"contact info", "CONTACT HELP"                  contact  asks for the advertiser's details; the CONTACT answer
                                                         covers HELP
"I'll contact my lawyer", "contactez-nous"      other    mentions, not the keyword; each CONTACT answer is paid
"HELP", "AIDE", "INFO", "infos svp", "aide-moi" help     help keywords, alone
"j'ai besoin d'aide pour ma commande"           other    a sentence for a human
"", None, "?", "😀", "merci"                    other    no keyword
quoted original "... STOP au 36111" in a reply  stop     STOP is in the text; lean to opt-out
"www.stop-pub.fr"                               stop     same
==============================================  =======  =====================================================
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable
from typing import Final, Literal

from halte_rules.lookalikes import LATIN_LOOKALIKES

__all__ = ["Classification", "classify", "normalise", "tokens"]

Classification = Literal["stop", "optin", "contact", "help", "other"]

# Modifier letters that keyboards emit as apostrophes (m\u02bcenvoyer); unicodedata calls
# them letters, which would glue "m'envoyer" into one word.
_APOSTROPHE_LETTERS: Final = frozenset("\u02bc\u02bb\u02bd\u02b9\u02c8\u02ca\u02cb\u02b4")

# Invisible characters are dropped rather than turned into spaces: the recipient saw the
# letters on either side as one word (S\u200bTOP reads STOP). Combining marks go too
# (that is how accents are stripped after NFKD).
_DROPPED_CATEGORIES: Final = frozenset({"Mn", "Me", "Mc", "Cf"})


def normalise(text: str | None) -> str:
    """Reduce text to lower-case, accent-free letters and digits separated by single spaces."""
    if not text:
        return ""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    out: list[str] = []
    for ch in folded:
        category = unicodedata.category(ch)
        if category in _DROPPED_CATEGORIES:
            continue
        if category[0] in "LN" and ch not in _APOSTROPHE_LETTERS:
            out.append(LATIN_LOOKALIKES.get(ch, ch))
        else:
            out.append(" ")
    return " ".join("".join(out).split())


_TOKEN: Final = re.compile(r"\d+|[^\W\d_]+")


def tokens(normalised: str) -> list[str]:
    """Split normalised text into words, separating digits from letters ("stop36111" -> stop, 36111)."""
    return _TOKEN.findall(normalised)


# Words that mean "opt me out" wherever they stand in the reply (see the decision table), except
# the forms _INFLECTED_STOP picks out.
_OPT_OUT_WORD: Final = re.compile(
    r"""
    (?:svp|stp|merci|pls|please|sms|pub)?          # glued politeness before STOP: "svpstop"
    (?:s+t+o+p+)+                                  # STOP, elongated or repeated: "stooop", "STOPSTOP"
    (?:e|es|ez|er|ons|en|ed|ing|s)?                # stoppez, stopper, stopez, stoppen, stopped, stopping, stops
    (?:sms|pubs?|all|svp|stp|merci|please|pls)?    # glued tails: "STOPSMS", "stoppub", "STOPALL"
    | a+r+e+t+(?:e|es|ez|er|ons|s)?                # arret, arrete(s/z/r), arretons, and "aret"
    | de?s+abo(?:n+[a-z]*)?                        # desabonner, desabonnez, desabonnement, desabo
    | de?s+ins?cri[a-z]*                           # desinscrire, desinscription, desinscrivez
    | un+sub(?:s?c?r[a-z]*)?                       # unsub, unsubscribe, unsubcribe, unsubscribed
    | un+sus?c?rib[a-z]*                           # unsuscribe, a frequent misspelling
    | opt+outs?                                    # OPTOUT
    """,
    re.VERBOSE,
)

# English inflections of STOP and the German "stopp" are also the verb of everyday sentences ("the bus
# stops here", "my order stopped arriving"): opting out on them costs a confirmation SMS and erases a
# contact who asked for nothing, so they count only when said as an order. Three "p"s or more are an
# elongated STOP ("stopppp"), not the German spelling. Glued to something else ("stoppedsms",
# "svpstops") they are typed as a keyword, which no sentence does, and _OPT_OUT_WORD keeps them.
_INFLECTED_STOP: Final = re.compile(r"s+t+o+(?:p+(?:ed|ing|s)|pp)")

# What "plus de ..." and "no more ..." refuse; after an inflected STOP they make it an order.
_FR_OBJECTS: Final = (
    r"sms|messages?|pubs?|publicites?|textos?|promos?|promotions?|spams?|notifications?|offres?|envois?"
)
_EN_OBJECTS: Final = r"sms|texts?|messages?|spam|ads?|promos?|marketing"
_OPT_OUT_OBJECT: Final = re.compile(rf"{_FR_OBJECTS}|{_EN_OBJECTS}")
# Words allowed between an inflected STOP and its object: "stopping all your texts", "stops les sms",
# "stopped au 36111". Two at most, so that a sentence cannot wander to a far-away "messages".
_DETERMINERS: Final = frozenset(
    {"the", "these", "those", "this", "that", "your", "ur", "my", "all", "any", "au"}
    | {"les", "des", "ces", "vos", "mes", "tes", "de", "d", "du", "tous", "toutes", "tout"}
)
_MAX_DETERMINERS: Final = 2

_OPT_OUT_PHRASE: Final = re.compile(
    rf"""
    \bplus\ d(?:e)?\ (?:{_FR_OBJECTS})\b
    | \bpas\ de\ (?:sms|pubs?|publicites?|spams?|textos?|promos?)\b
    | \bne?\ (?:plus\ )?(?:m\ |me\ |nous\ )?(?:envoy|ecri|contact|sollicit|spam|harcel|derang)[a-z]*
        \ (?:plus|jamais|pas)\b
    | \bne\ plus\ (?:m\ |me\ |nous\ )?(?:recevoir|envoyer|contacter|ecrire|etre)\b
    | \bne?\ (?:veux|veut|voulons|voulez|souhaite|souhaitons|desire|desirons)\ (?:plus|pas\ recevoir)\b
    | \bno\ more\ (?:{_EN_OBJECTS})\b
    | \b(?:don\ t|dont|do\ not|never)\ (?:text|message|sms|send|contact|spam|email|write|call)\b
    | \b(?:remove|delete|erase)\ (?:me|my\ (?:number|phone|mobile|details|data))\b
    | \btake\ me\ off\b
    | \bopt\ (?:me\ )?out\b
    | \b(?:cancel|end|annul|resili|fin)[a-z]*\ (?:de\ |d\ )?
        (?:my\ |mon\ |l\ |the\ |mes\ |ces\ |vos\ |votre\ |ce\ |cet\ |this\ )?
        (?:subscriptions?|abonnements?)\b
    | \b(?:laisse|laissez|leave)\ (?:moi|me|nous|us)\ (?:tranquilles?|alone|en\ paix)\b
    | \b(?:enlev|retir|supprim|effac|ray)[a-z]*\ (?:moi|mon\ (?:numero|num|tel|telephone|portable))\b
    """,
    re.VERBOSE,
)

_STOP_EMOJI: Final = "\U0001f6d1"

# Everyday words: an opt-out only when they are the whole reply (give or take fillers).
_OPT_OUT_ALONE: Final = frozenset(
    {"cancel", "end", "quit", "revoke", "remove", "annuler", "annule", "annulez", "fin", "halt", "halte"}
    | {"stpo", "sotp", "tsop"}  # letter swaps of STOP: no other reading
)
_OPT_IN: Final = frozenset({"start", "unstop"})
_CONTACT: Final = frozenset({"contact", "contacts", "contacter", "contactez"})
_HELP: Final = frozenset({"help", "aide", "aidez", "info", "infos", "information", "informations"})
_KEYWORDS: Final = _OPT_OUT_ALONE | _OPT_IN | _CONTACT | _HELP

# Words that do not change what a keyword-only reply asks for.
_FILLERS: Final = frozenset(
    {
        "merci",
        "mercii",
        "svp",
        "stp",
        "please",
        "pls",
        "plz",
        "thanks",
        "thx",
        "ty",
        "bonjour",
        "bonsoir",
        "bjr",
        "hello",
        "hi",
        "hey",
        "salut",
        "ok",
        "okay",
        "oui",
        "yes",
        "sms",
        "au",
        "to",
        "me",
        "moi",
        "all",
        "tout",
        "now",
        "maintenant",
        "asap",
        "bitte",  # German politeness: "Bitte stopp" must read like "Stopp"
        "danke",
    }
)
_FILLER_PHRASES: Final = re.compile(r"\bs il (?:vous|te) plait\b|\bthank you\b|\bmerci beaucoup\b")

# Longest keyword spelled letter by letter that is worth looking for ("desinscription").
_MAX_SPELLED: Final = 16
# First letters of the keyword families; skipping other starts keeps long letter runs cheap.
_SPELLED_INITIALS: Final = frozenset("sadou")


def _spelled_out(words: list[str]) -> Iterable[str]:
    """Yield the letter runs spelled one letter per word ("s t o p" -> "stop") and their sub-runs."""
    run: list[str] = []
    for word in [*words, ""]:
        if len(word) == 1 and not word.isdigit():
            run.append(word)
            continue
        if len(run) >= 4:
            letters = "".join(run)
            for start in range(len(letters) - 3):
                if letters[start] not in _SPELLED_INITIALS:
                    continue
                for end in range(start + 4, min(len(letters), start + _MAX_SPELLED) + 1):
                    yield letters[start:end]
        run = []


def _is_inflected_stop(word: str) -> bool:
    """Tell whether a word is an English inflection of STOP or the German "stopp" (not the bare word)."""
    return _INFLECTED_STOP.fullmatch(word) is not None


def _says_stop(raw: str, words: list[str]) -> bool:
    """Tell whether the reply holds an opt-out word, spelled-out word, phrase or sign anywhere."""
    if _STOP_EMOJI in raw:
        return True
    if any(_OPT_OUT_WORD.fullmatch(word) and not _is_inflected_stop(word) for word in words):
        return True
    if any(_OPT_OUT_WORD.fullmatch(letters) for letters in _spelled_out(words)):
        return True
    return _OPT_OUT_PHRASE.search(" ".join(words)) is not None


def _short_code_forms(short_codes: Collection[str]) -> frozenset[str]:
    """Return the short codes as the single word they become once spaces and '+' are dropped."""
    return frozenset(code for code in ("".join(normalise(c).split()) for c in short_codes if c) if code)


def _is_short_code(digits: list[str], short_codes: frozenset[str]) -> bool:
    """Tell whether a run of numbers is the short code, whole ("36 111") or repeated ("36111 36111")."""

    def one(code: str) -> bool:
        # The STOP mention always shows a 5-digit short code; recipients copy whichever they saw.
        return code in short_codes or len(code) == 5

    return one("".join(digits)) or all(one(code) for code in digits)


def _core(words: list[str], short_codes: frozenset[str]) -> list[str]:
    """Return the words of the reply left once politeness and short codes are removed."""
    core: list[str] = []
    digits: list[str] = []
    for word in [*tokens(_FILLER_PHRASES.sub(" ", " ".join(words))), ""]:
        if word.isdigit():
            digits.append(word)
            continue
        if digits and not _is_short_code(digits, short_codes):
            core.extend(digits)
        digits = []
        if word and word not in _FILLERS and word not in short_codes:
            core.append(word)
    return core


def _object_follows(words: list[str], start: int, short_codes: frozenset[str]) -> bool:
    """Tell whether words[start:] opens on an opt-out object or the short code, past two determiners at most."""
    end = min(start + _MAX_DETERMINERS, len(words))
    while start < end and words[start] in _DETERMINERS:
        start += 1
    if start == len(words):
        return False
    if _OPT_OUT_OBJECT.fullmatch(words[start]):
        return True
    end = start
    while end < len(words) and words[end].isdigit():
        end += 1
    return end > start and _is_short_code(words[start:end], short_codes)


def _orders_stop(words: list[str], core: list[str], short_codes: frozenset[str]) -> bool:
    """Tell whether an inflected STOP is said as an order: alone, first, or followed by its object."""
    if any(_is_inflected_stop(word) for word in core) and (
        _is_inflected_stop(core[0]) or all(word in _KEYWORDS or _is_inflected_stop(word) for word in core)
    ):
        return True
    return any(_is_inflected_stop(word) and _object_follows(words, i + 1, short_codes) for i, word in enumerate(words))


def classify(text: str | None, *, short_codes: Collection[str] = ()) -> Classification:
    """Classify an SMS reply as stop, optin, contact, help or other (see the module's decision table)."""
    raw = text or ""
    words = tokens(normalise(raw))
    if _says_stop(raw, words):
        return "stop"
    codes = _short_code_forms(short_codes)
    core = _core(words, codes)
    if _orders_stop(words, core, codes):
        return "stop"
    if not core or not all(word in _KEYWORDS for word in core):
        return "other"
    kinds = set(core)
    if kinds & _OPT_OUT_ALONE:
        return "stop"
    if kinds <= _OPT_IN:
        return "optin"
    if kinds & _OPT_IN:
        return "other"
    return "contact" if kinds & _CONTACT else "help"
