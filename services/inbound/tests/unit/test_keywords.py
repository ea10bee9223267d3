"""Reply classification corpus (SPEC rules 5 and 6): realistic replies, the decision table, properties."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from halte_inbound.domain.keywords import classify, normalise, tokens

STOP_CASES = [
    # The word itself, any case, punctuation, whitespace.
    "STOP",
    "stop",
    "Stop",
    "sToP",
    "STOP.",
    "stop.",
    "stop ?",
    "stop!",
    "stop!!",
    "STOP!!!",
    "Stop ?",
    "STOP?",
    "  stop  ",
    "\tSTOP\n",
    "STOP\r\n",
    '"STOP"',
    "'stop'",
    "«\u00a0STOP\u00a0»",
    "(stop)",
    "[STOP]",
    "*stop*",
    "-stop-",
    "...stop...",
    "stop;",
    "STOP :)",
    "STOP :-(",
    "#stop",
    "@stop",
    # Elongations and hurried typing.
    "Stooop",
    "STOOOOOOP",
    "stopppp",
    "sssstop",
    "STOPSTOPSTOP",
    "stop stop stop",
    # The legal mention copied back, with or without the short code.
    "STOP SMS",
    "Stop sms",
    "stop-sms",
    "STOPSMS",
    "Stop pub",
    "STOP PUB",
    "stoppub",
    "STOP 36111",
    "Stop 36111",
    "stop36111",
    "STOP au 36111",
    "stop au 36 111",
    "36111 STOP",
    "36111STOP",
    "STOP 38123",
    "stop2",
    "Stop 1",
    "STOPALL",
    "stop all",
    "STOP ALL",
    "Stopall svp",
    "stopsvp",
    "svpstop",
    "stopmerci",
    # Inflections glued to a tail or politeness are typed as a keyword.
    "stoppedsms",
    "svpstops",
    "STOPPINGSMS",
    # Politeness around it.
    "Stop svp",
    "Stop svp merci",
    "STOP merci",
    "Merci de stop",
    "merci de stop",
    "merci de stopper",
    "Bonjour, STOP svp. Cordialement",
    "stop please",
    "STOP PLEASE",
    "Please stop",
    "please stop texting me",
    "stop s'il vous plaît",
    "Stop stp",
    "STP STOP",
    "stop thanks",
    "Ok stop",
    "oui stop",
    # STOP anywhere as a word.
    "je veux que ça STOP",
    "Je veux que ça stop maintenant",
    "C'est bon stop",
    "Stop les sms",
    "Stop à vos pubs",
    "stop arrêtez de m'envoyer des messages",
    "Vous allez stop oui ?",
    "STOP! I never signed up for this",
    "Stop texting me",
    "stop sending me messages",
    "I said STOP",
    "Stop spamming me!!!",
    "Il faut que ça stop",
    "stop ce harcèlement",
    "Je ne suis pas intéressé, stop",
    "pas intéressé stop",
    "Re: stop",
    "STOP\nEnvoyé de mon iPhone",
    "Envoyé de mon iPhone\n\nSTOP",
    # Verb forms of "stopper".
    "STOPPER",
    "stopper",
    "stoppez",
    "Stoppez svp",
    "stopez",
    "Stoppé",
    "stoppe",
    "Stoppez tout",
    "stoppen",
    "Je vais stoppez",
    "le bus stoppe ici",
    # Ambiguous cases from the decision table: lean to opt-out.
    "ne pas stop",
    "pas stop",
    "non stop",
    "non-stop",
    "don't stop",
    "Don’t stop",
    "STOP START",
    "START STOP",
    "stop contact",
    "CONTACT STOP",
    "STOP HELP",
    "help stop",
    "info stop",
    "stop unstop",
    "UN STOP",
    "un stop",
    "Je veux un stop",
    "un-stop",
    "c'est quoi stop",
    "stop ou encore ?",
    "www.stop-pub.fr",
    "> Promo -20% ce week-end. STOP au 36111",
    "Bus stop",
    # Spelled out one letter at a time.
    "S T O P",
    "s t o p",
    "S.T.O.P",
    "S.T.O.P.",
    "s-t-o-p",
    "S_T_O_P",
    "S T O P svp",
    "merci S T O P",
    "A R R E T",
    "a.r.r.ê.t",
    # Unicode: full-width, styled letters, homoglyphs, invisible characters, UCS-2 punctuation.
    "ＳＴＯＰ",
    "ｓｔｏｐ",
    "ＳＴＯＰ　ＳＭＳ",
    "𝐒𝐓𝐎𝐏",
    "𝕊𝕋𝕆ℙ",
    "ⓈⓉⓄⓅ",
    "ЅТОР",
    "ѕтор",
    "SΤOΡ",
    "S\u200bTOP",
    "ST\u00adOP",
    "\ufeffSTOP",
    "STOP\u200d",
    "S\u2060TOP",
    "STOP\u202f!",
    "stop\u2028",
    "Stop\u00a0sms",
    "STOP\u3002",
    "Ｓｔｏｐ！",
    "s\u0301to\u0308p",
    # Emoji around or instead of the word.
    "STOP🛑",
    "🛑",
    "🛑🛑🛑",
    "🛑 merci",
    "Stop😡",
    "STOP 👎",
    "✋ STOP ✋",
    "stop🙏",
    "😡😡STOP😡😡",
    "stop ❤️",
    # ARRET / ARRÊT, anywhere.
    "ARRET",
    "Arrêt",
    "ARRÊT",
    "arret",
    "arrêt svp",
    "ARRET 36111",
    "Arrête",
    "arrete",
    "Arrêtez",
    "Arrêtez !",
    "arretez svp",
    "Arrêter",
    "arrêtons",
    "Arrêtez de m'envoyer des sms",
    "Arrêtez de m’envoyer des SMS !!!",
    "arrêtez vos messages",
    "Merci d'arrêter",
    "Il faut arrêter là",
    "je suis à l'arrêt de bus",
    "aret",
    "arête",
    # désabonner / désinscrire, anywhere.
    "désabonner",
    "DESABONNER",
    "Désabonnez-moi",
    "desabonnez moi",
    "desabonnez-moi",
    "désabonnez-moi svp",
    "Je veux me désabonner",
    "je souhaite me desabonner de vos sms",
    "désabonnement",
    "Demande de désabonnement",
    "désabonné",
    "désabo",
    "desabo svp",
    "désinscription",
    "Désinscription SVP",
    "je veux me désinscrire",
    "désinscrivez-moi",
    "desinscrire",
    "désinscris moi",
    "je ne veux pas me désabonner",
    # English opt-out words with a single sense, anywhere.
    "UNSUBSCRIBE",
    "unsubscribe",
    "Unsubscribe me",
    "unsubscribe me please",
    "Please unsubscribe me from this list",
    "unsubscribed",
    "unsub",
    "unsuscribe",
    "unsubcribe",
    "OPTOUT",
    "optout",
    "OPT-OUT",
    "opt out",
    "Opt me out",
    "please opt me out",
    # Phrases.
    "plus de sms",
    "plus de sms svp",
    "Plus de SMS !",
    "plus de pub",
    "plus de pub svp",
    "Plus de messages merci",
    "plus de promos",
    "je ne veux plus de sms",
    "Je ne veux plus recevoir vos sms",
    "je ne veux plus",
    "je ne souhaite plus recevoir de messages",
    "je veux ne plus recevoir vos offres",
    "pas de sms",
    "pas de pub",
    "ne m'envoyez plus de sms",
    "Ne m'envoyez plus rien",
    "n'envoyez plus de messages à ce numéro",
    "ne me contactez plus",
    "ne me contactez pas",
    "ne m'écrivez plus jamais",
    "no more texts",
    "No more messages please",
    "don't text me",
    "Do not contact me",
    "don't send me this",
    "never text me again",
    "remove my number",
    "Please remove me from your list",
    "delete my number",
    "take me off your list",
    "take me off",
    "cancel my subscription",
    "annuler mon abonnement",
    "fin de l'abonnement",
    "supprimez mon numéro",
    "retirez-moi de la liste",
    "enlevez moi de vos contacts",
    "laissez-moi tranquille",
    "leave me alone",
]

# Opt-outs only when they are the whole reply, give or take politeness and the short code.
STOP_ALONE_CASES = [
    # Platform keywords that count only as the whole reply.
    "CANCEL",
    "cancel",
    "Cancel.",
    "Cancel please",
    "cancel 36111",
    "CANCEL ALL",
    "END",
    "end",
    "End.",
    "END 36111",
    "QUIT",
    "quit!",
    "Quit please",
    "REVOKE",
    "revoke",
    "REMOVE",
    "remove",
    "Remove me",
    "remove me please",
    "ANNULER",
    "annuler",
    "Annuler svp",
    "FIN",
    "fin",
    "Fin.",
    "HALTE",
    "halt",
    "ok cancel",
    "cancel end quit",
    "bonjour, cancel, merci",
    "cancel start",
    "START CANCEL",
    "cancel help",
    "quıt",
    # Letter swaps, alone.
    "stpo",
    "Sotp",
    "TSOP",
    "stpo svp",
]

# English inflections of STOP and the German "stopp", said as an order: alone, first, or before an opt-out object.
INFLECTED_STOP_CASES = [
    # The whole reply, give or take politeness and the short code.
    "stops",
    "Stops.",
    "stopped",
    "Stopped!",
    "STOPPED",
    "stopping",
    "Stopping...",
    "Stopp",
    "STOPP!",
    "stoped",
    "stoping",
    "stopps",
    "ＳＴＯＰＰＥＤ",
    "Stopped svp",
    "ok stopped",
    "merci, stopping",
    "stops 36111",
    "stopped 🙏",
    # First word of the reply.
    "Stopped! no more",
    "Stopping these texts please",
    "stopped sending me these?",
    "Stopping now thank you",
    "Stopp Werbung",
    "Bonjour, stopping these",
    "36111 stopped",
    "Hi, stopped by the shop yesterday",
    # Followed by an opt-out object, past two determiners at most.
    "stops sms",
    "stopped les sms",
    "stopping all your texts",
    "stopp pub",
    "you never stopped the promos",
    "I want you stopping your ads",
    "so, why not stopping vos publicités ?",
    "ok for me, stops au 36111",
    "I am stopped sms",
    # Keywords only: STOP wins over every other class.
    "START stopped",
    "help stops",
    "contact stopping",
    "stopped unstop",
    # German politeness and "sms" are fillers.
    "Bitte Stopp",
    "SMS stopp",
    "danke, stopp",
]

OPTIN_CASES = [
    "START",
    "start",
    "Start",
    "START.",
    "start!",
    "  START  ",
    "Start svp",
    "START merci",
    "start please",
    "START 36111",
    "Start 36 111",
    "start36111",
    "START au 36111",
    "start sms",
    "oui start",
    "Bonjour START",
    "UNSTOP",
    "unstop",
    "Unstop please",
    "UNSTOP 36111",
    "ＳＴＡＲＴ",
    "start 🙂",
    "START START",
    "start unstop",
    "ѕtart",
]

CONTACT_CASES = [
    "CONTACT",
    "contact",
    "Contact",
    "contact?",
    "CONTACT!",
    "contact svp",
    "Contact merci",
    "CONTACT 36111",
    "contact au 36111",
    "Bonjour, CONTACT",
    "contacts",
    "contacter",
    "contactez",
    "contact info",
    "CONTACT HELP",
    "ＣＯＮＴＡＣＴ",
    "contact 📞",
]

HELP_CASES = [
    "HELP",
    "help",
    "Help!",
    "help please",
    "HELP 36111",
    "AIDE",
    "aide",
    "Aide svp",
    "aide-moi",
    "aidez moi",
    "INFO",
    "info",
    "Info ?",
    "infos",
    "infos svp",
    "information",
    "informations",
    "help info",
    "AIDE INFO",
]

OTHER_CASES = [
    # No keyword at all.
    "",
    " ",
    "\n\t",
    "?",
    "!!!",
    "...",
    "😀",
    "👍",
    "✋",
    "⛔",
    "🚫",
    "👎",
    "❤️",
    "merci",
    "Merci beaucoup",
    "ok",
    "oui",
    "Non",
    "No",
    "NON MERCI",
    "non",
    "Qui êtes-vous ?",
    "C'est qui ?",
    "Super offre, merci !",
    "A quelle heure ouvre le magasin ?",
    "Je passerai demain",
    "Lol",
    "c'est top",
    "it's top",
    "Top !",
    "top",
    "step",
    "shop",
    "stoo",
    "sto",
    "36111",
    "1234",
    "\u200b",
    "\u00ad",
    # "stp" is "s'il te plaît".
    "stp",
    "STP",
    "STP merci",
    "Stp ?",
    "Rappelez-moi stp",
    "envoyez moi le code stp",
    # Other words that merely contain the letters.
    "stopover",
    "Stopover in Paris",
    "stopwatch",
    "stoplight",
    "nonstop",
    "backstop",
    "ST OP",
    "sto p",
    "post",
    "spot",
    "pots",
    "tops",
    "arts",
    "art",
    "desk",
    "describe",
    "unsubtle",
    "subscribe",
    "abonnement",
    # Platform keywords inside sentences.
    "Cancel my order",
    "cancel my appointment",
    "Can I cancel my reservation?",
    "cancel 2",
    "je veux annuler",
    "Je veux annuler mon rendez-vous",
    "annuler mon rendez-vous",
    "annuler la commande",
    "the end of the movie",
    "See you at the end of the week",
    "I quit smoking",
    "quit playing",
    "remove the item from my cart",
    "revoke my access badge",
    "fin de semaine",
    "à la fin",
    "la fin du film",
    "halte garderie",
    # Opt-in only when unambiguous.
    "START ME UP",
    "restart",
    "start the car",
    "Let's start",
    "start again tomorrow",
    "START HELP",
    "start info",
    "start contact",
    "starts",
    "démarrer",
    # CONTACT / HELP words inside sentences.
    "I'll contact my lawyer",
    "contactez-nous",
    "Je vais contacter la CNIL",
    "merci de me contacter",
    "j'ai besoin d'aide pour ma commande",
    "help me with my order",
    "plus d'infos sur la promo ?",
    "info sur le produit",
    "Helpful, thanks",
    # Plain conversation.
    "Bonjour, pouvez-vous me rappeler ?",
    "Quel est le prix ?",
    "Oui je suis intéressé",
    "Combien ça coûte ?",
    "Ok pour demain 10h",
    "Réservé !",
    "See you soon",
    "What is this?",
    "Who is this?",
    "Thanks for the offer",
    "Merci pour l'info, à bientôt",
    "Je confirme",
    "Bien reçu",
    # English inflections and the German "stopp" inside a sentence, without an opt-out object after them.
    "the bus stops here",
    "The bus stops here.",
    "my order stopped arriving",
    "my parcel stopped at the depot",
    "it keeps stopping",
    "it stops all the time",
    "he stooped down",
    "the app stopped sending texts",
    "my phone stopped sending messages",
    "Not interested. Stopped.",
    "Werbung stopp",
    "Thanks for stopping by",
    "I stopped smoking",
    "the rain stopped, see you tomorrow",
    "the bus stopp here",
    "the bus stops 12",
]


@pytest.mark.parametrize("text", STOP_CASES)
def test_opt_out_replies_classify_stop(text: str) -> None:
    assert classify(text) == "stop"


@pytest.mark.parametrize("text", STOP_ALONE_CASES)
def test_everyday_opt_out_keywords_alone_classify_stop(text: str) -> None:
    assert classify(text) == "stop"


@pytest.mark.parametrize("text", INFLECTED_STOP_CASES)
def test_inflected_stop_said_as_an_order_classifies_stop(text: str) -> None:
    assert classify(text) == "stop"


@pytest.mark.parametrize("text", OPTIN_CASES)
def test_resubscribe_replies_classify_optin(text: str) -> None:
    assert classify(text) == "optin"


@pytest.mark.parametrize("text", CONTACT_CASES)
def test_contact_replies_classify_contact(text: str) -> None:
    assert classify(text) == "contact"


@pytest.mark.parametrize("text", HELP_CASES)
def test_help_replies_classify_help(text: str) -> None:
    assert classify(text) == "help"


@pytest.mark.parametrize("text", OTHER_CASES)
def test_everything_else_classifies_other(text: str) -> None:
    assert classify(text) == "other"


def test_corpus_is_large_and_unambiguous() -> None:
    corpora = [STOP_CASES, STOP_ALONE_CASES, INFLECTED_STOP_CASES, OPTIN_CASES, CONTACT_CASES, HELP_CASES, OTHER_CASES]
    every = [text for corpus in corpora for text in corpus]
    assert len(every) >= 250
    assert len(every) == len(set(every)), "a reply listed twice would hide a contradiction"


def test_none_is_other() -> None:
    assert classify(None) == "other"
    assert normalise(None) == ""


@pytest.mark.parametrize(
    ("text", "short_codes", "expected"),
    [
        ("CANCEL 38123", ["38123"], "stop"),
        ("cancel 612", ["612"], "stop"),
        ("cancel 612", [], "other"),
        ("START 612", ["612"], "optin"),
        ("contact 612", ["612"], "contact"),
        ("help +33 6 12 34 56 78", ["+33612345678"], "help"),
        ("START 36111", ["38123"], "optin"),
        ("start acme", ["ACME"], "optin"),
        ("start acme", [], "other"),
        ("CANCEL 36111 36111", [], "stop"),
        ("cancel 36 111", ["36111"], "stop"),
        ("cancel 361 11 612", ["612"], "other"),
        ("cancel", ["", "36111"], "stop"),
        ("STOP 612", ["612"], "stop"),
        ("stop", ["stop"], "stop"),
        ("the bus stops 612", ["612"], "stop"),
        ("the bus stops 612", [], "other"),
        ("the bus stops 36 111", [], "stop"),
    ],
)
def test_short_codes_are_ignored_around_keywords(text: str, short_codes: list[str], expected: str) -> None:
    assert classify(text, short_codes=short_codes) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("STOP", "stop"),
        ("  Arrêtez\u00a0!! ", "arretez"),
        ("ＳＴＯＰ　ＳＭＳ", "stop sms"),
        ("S\u200bTOP", "stop"),
        ("ST\u00adOP", "stop"),
        ("ЅТОР", "stop"),
        ("désabonnez-moi", "desabonnez moi"),
        ("m\u02bcenvoyer", "m envoyer"),
        ("m’envoyer", "m envoyer"),
        ("Stop😡🛑sms", "stop sms"),
        ("Straße", "strasse"),
        ("ﬁn", "fin"),
        ("İNFO", "info"),
        ("\n\r\t", ""),
        ("", ""),
        ("½", "1 2"),
        ("stop\ud800", "stop"),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_tokens_split_digits_from_letters() -> None:
    assert tokens("stop36111 au 36 111") == ["stop", "36111", "au", "36", "111"]


def test_lone_surrogates_do_not_raise() -> None:
    assert classify("\ud83d STOP \udc00") == "stop"
    assert classify("\udfff") == "other"


def test_long_replies_are_classified() -> None:
    assert classify("blabla " * 5000 + "stop") == "stop"
    assert classify("a " * 20000) == "other"
    assert classify("s " * 10000 + "t o p") == "stop"


# --- properties -----------------------------------------------------------------------------

# Characters a phone keyboard produces for French and English replies.
_LATIN = "abcdefghijklmnopqrstuvwxyzàâäçéèêëîïôöùûüÿœæABCDEFGHIJKLMNOPQRSTUVWXYZÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸŒÆ"
_PUNCT = " .,;:!?'’\"«»()-_/*#@&\n\t\u00a0\u202f…😀😡🙏👍"
_realistic = st.text(alphabet=_LATIN + _PUNCT + "0123456789", max_size=60)
# Punctuation, spaces, emoji and digits all end a word ("stop36111" is STOP then the short code).
_separator = st.text(alphabet=_PUNCT + "0123456789", min_size=1, max_size=5)
_stop_any_case = st.lists(st.booleans(), min_size=4, max_size=4).map(
    lambda upper: "".join(c.upper() if u else c for c, u in zip("stop", upper, strict=True))
)


@settings(max_examples=400)
@given(prefix=_realistic, before=_separator, stop=_stop_any_case, after=_separator, suffix=_realistic)
@example(prefix="", before=" ", stop="STOP", after=" ", suffix="")
@example(prefix="je veux que ça", before=" ", stop="Stop", after="!!", suffix="START")
@example(prefix="un", before="-", stop="stop", after="?", suffix="")
def test_standalone_stop_word_always_classifies_stop(
    prefix: str, before: str, stop: str, after: str, suffix: str
) -> None:
    assert classify(prefix + before + stop + after + suffix) == "stop"


@settings(max_examples=400)
@given(text=_realistic)
def test_case_does_not_matter(text: str) -> None:
    assert classify(text.upper()) == classify(text) == classify(text.lower())


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


@settings(max_examples=400)
@given(text=_realistic)
def test_accents_do_not_matter(text: str) -> None:
    assert classify(_strip_accents(text)) == classify(text)


@settings(max_examples=300)
@given(
    text=_realistic, left=st.text(alphabet=" \t\n\r\u00a0\u3000\u2028", max_size=5), right=st.text(" \t\n", max_size=5)
)
def test_surrounding_whitespace_does_not_matter(text: str, left: str, right: str) -> None:
    assert classify(left + text + right) == classify(text)


@settings(max_examples=300)
@given(text=_realistic)
def test_full_width_forms_read_like_ascii(text: str) -> None:
    full_width = "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)
    assert classify(full_width) == classify(text)


@settings(max_examples=500)
@given(text=st.text(), short_codes=st.lists(st.text(max_size=8), max_size=3))
def test_never_raises_on_arbitrary_unicode(text: str, short_codes: list[str]) -> None:
    assert classify(text, short_codes=short_codes) in {"stop", "optin", "contact", "help", "other"}


@settings(max_examples=500)
@given(text=st.text())
def test_normalise_is_idempotent_and_tidy(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once
    assert once == once.strip()
    assert "  " not in once
    assert all(ch == " " or ch.isalnum() for ch in once)


_keyword_replies = st.sampled_from(STOP_ALONE_CASES + OPTIN_CASES + CONTACT_CASES + HELP_CASES + OTHER_CASES)
_stop_replies = st.sampled_from(STOP_CASES)


@settings(max_examples=300)
@given(other=_keyword_replies, stop=_stop_replies, stop_first=st.booleans())
def test_stop_wins_over_every_other_class(other: str, stop: str, stop_first: bool) -> None:
    text = f"{stop} {other}" if stop_first else f"{other} {stop}"
    assert classify(text) == "stop"


_POLITENESS = ["merci", "svp", "Merci beaucoup", "s'il vous plaît", "please", "thanks", "bonjour", "36111", "!!", "🙏"]


@settings(max_examples=300)
@given(
    keyword=st.sampled_from(
        ["CANCEL", "end", "Quit", "REVOKE", "remove", "START", "unstop", "CONTACT", "aide", "INFO"]
    ),
    extra=st.lists(st.sampled_from(_POLITENESS), max_size=3),
)
def test_politeness_and_short_code_do_not_change_a_keyword_reply(keyword: str, extra: list[str]) -> None:
    assert classify(" ".join([keyword, *extra])) == classify(keyword) != "other"


_NEUTRAL_WORDS = ["my", "order", "the", "rendez-vous", "appointment", "movie", "demain", "la", "commande", "je", "veux"]


@settings(max_examples=300)
@given(
    keyword=st.sampled_from(
        ["cancel", "END", "quit", "revoke", "remove", "annuler", "fin", "START", "contact", "help"]
    ),
    words=st.lists(st.sampled_from(_NEUTRAL_WORDS), min_size=1, max_size=4),
    keyword_first=st.booleans(),
)
def test_everyday_keywords_inside_sentences_stay_other(keyword: str, words: list[str], keyword_first: bool) -> None:
    parts = [keyword, *words] if keyword_first else [*words, keyword]
    assert classify(" ".join(parts)) == "other"


_INFLECTED_FORMS = ["stops", "stopped", "stopping", "stopp", "stoped", "stoping", "stoppped", "stooopping"]
_any_case_inflected = st.sampled_from(_INFLECTED_FORMS).flatmap(
    lambda word: st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
        lambda upper: "".join(c.upper() if u else c for c, u in zip(word, upper, strict=True))
    )
)
_NARRATION_WORDS = [
    "the",
    "bus",
    "my",
    "order",
    "parcel",
    "it",
    "keeps",
    "here",
    "at",
    "depot",
    "la",
    "commande",
    "again",
]
_OPT_OUT_OBJECTS = ["sms", "SMS", "texts", "messages", "pub", "publicités", "promos", "ads", "spam", "textos"]


@settings(max_examples=300)
@given(
    greeting=st.lists(st.sampled_from(_POLITENESS), max_size=2),
    form=_any_case_inflected,
    after=_separator,
    suffix=_realistic,
)
@example(greeting=[], form="Stopped", after="! ", suffix="the bus stops here")
@example(greeting=["bonjour"], form="stopping", after=" ", suffix="these texts please")
def test_reply_led_by_an_inflected_stop_classifies_stop(
    greeting: list[str], form: str, after: str, suffix: str
) -> None:
    assert classify(" ".join([*greeting, form]) + after + suffix) == "stop"


@settings(max_examples=300)
@given(
    before=st.lists(st.sampled_from(_NARRATION_WORDS), min_size=1, max_size=4),
    form=_any_case_inflected,
    after=st.lists(st.sampled_from(_NARRATION_WORDS), max_size=4),
)
@example(before=["the", "bus"], form="stops", after=["here"])
@example(before=["it", "keeps"], form="stopping", after=[])
def test_inflected_stop_inside_a_sentence_stays_other(before: list[str], form: str, after: list[str]) -> None:
    assert classify(" ".join([*before, form, *after])) == "other"


@settings(max_examples=300)
@given(
    before=st.lists(st.sampled_from(_NARRATION_WORDS), max_size=4),
    form=_any_case_inflected,
    determiners=st.lists(st.sampled_from(["the", "these", "your", "all", "les", "vos", "ces", "de"]), max_size=2),
    opt_out_object=st.sampled_from(_OPT_OUT_OBJECTS),
)
@example(before=["my", "order"], form="stopped", determiners=["les"], opt_out_object="sms")
def test_inflected_stop_before_an_opt_out_object_classifies_stop(
    before: list[str], form: str, determiners: list[str], opt_out_object: str
) -> None:
    assert classify(" ".join([*before, form, *determiners, opt_out_object])) == "stop"
