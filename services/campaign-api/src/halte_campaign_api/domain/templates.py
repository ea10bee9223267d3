"""Informative templates: the wording an account declares for its informative SMS, and what matches it.

Why (docs/compliance-rules.md, "Informative templates"): an informative SMS skips every marketing
rule (consent, quiet hours, the STOP mention, the opt-out list), so the platform must trust that
a text labelled informative is one. The promotional detector (rules/src/halte_rules/promotional.py)
screens every informative text; templates add a second gate, the way carriers vet an SMS use case
before traffic flows: the account declares the shapes of its notifications beforehand, and the
operator may require that every informative text is one of them.

Declaring (``check_template_name``, ``check_template_text``)
    A template has a name (at most 100 characters, no control character) and a text (at most
    1000 characters; line breaks and tabs allowed, no other control character). ``{identifier}``
    marks a placeholder (spaces inside the braces tolerated, as in compose.py); braces around
    anything else are literal. At most 10 placeholders; two placeholders need something written
    between them; the template's own words (outside placeholders, spaces aside) are at least 10
    characters, so a template such as ``{a} {b}`` cannot vouch for any text. A template the
    detector finds promotional (``halte_rules.promotional.is_promotional``, the function the
    dispatcher decides with) is refused ``promotional_content``, naming each signal and its excerpt.
    An account keeps at most 200 templates that are not retired.

States (``review``)
    ``pending`` when declared; the operator ``approve``s (pending or rejected -> approved) or
    ``reject``s with a note (pending or approved -> rejected); the account retires its own
    (any state -> ``retired``, kept as history). Approving an approved template or rejecting a
    rejected one changes nothing; a retired template is never reviewed again (``invalid_status``).

What the account requires (``TEMPLATE_MODES``, set by the operator)
    ``off`` (the default): templates are optional, the detector alone screens informative texts.
    ``declared``: an informative text must match a pending or approved template of the account.
    ``approved``: it must match an approved one. Rejected and retired templates never count.

Matching (``compile_template``, ``matches``, ``first_match``)
    A text matches a template when it reads as the template with each placeholder replaced by a
    value of 1 to 60 characters that holds no line break. Both sides are compared after trimming
    their ends and collapsing each whitespace run to one space, so "Bonjour  Léa,\\nvotre RDV" and
    "Bonjour Léa, votre RDV" read alike where the template's words are; inside a value, though, a
    run that held a line break (\\n, \\r, \\v, \\f, U+2028...) is refused, so a value cannot add a
    paragraph. Values are measured collapsed. Otherwise the comparison is exact, case included. Each
    placeholder takes its own value (the same name twice may take two values). A campaign text
    that keeps the account's personalisation placeholders (``{first_name}``, ``{last_name}``,
    filled per recipient by compose.py) is matched as written: the placeholder is a value like any
    other, so it stands where the template has a placeholder, never where it has words.

    Matching a template never exempts a text from the detector: the values are the account's
    words, so the full text is still screened where campaigns are drafted and by the dispatcher.

Why no single regular expression
    The template ``A {x} B {y} C`` reads as the pattern ``A[^\\r\\n]{1,60}?B[^\\r\\n]{1,60}?C``
    (literals escaped, each value bounded). Each bound is safe, but a backtracking engine such as
    Python's ``re`` tries the values' lengths in combination: on a hostile text full of separators
    the work grows like 60 to the power of the number of placeholders. So a template compiles to
    its literal pieces (what the escaped regex would hold between the bounded values), and the
    match runs the same automaton breadth-first: for each placeholder in turn, the set of places
    where its value may start (sorted, without repeats), then every place where the next piece
    occurs within 60 characters of one of them with no line break in between. That is at most
    (number of placeholders) x (text length) steps, each a bisection, and a text longer than the
    template's pieces plus 60 characters per placeholder is refused before any search, so the
    cost is bounded by the template's size whatever the text. Compiled forms are cached by text.
"""

from __future__ import annotations

import functools
import itertools
import re
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, TypeVar

from halte_campaign_api.domain.errors import DomainError, check_one_line, has_unstorable

TEMPLATE_MODES: Final = ("off", "declared", "approved")
DEFAULT_TEMPLATE_MODE: Final = "off"
STATES: Final = ("pending", "approved", "rejected", "retired")
#: The states whose templates may carry an informative text, per account requirement.
USABLE_STATES: Final[dict[str, frozenset[str]]] = {
    "off": frozenset({"pending", "approved"}),
    "declared": frozenset({"pending", "approved"}),
    "approved": frozenset({"approved"}),
}
ACTIONS: Final = ("approve", "reject", "retire")

NAME_MAX: Final = 100
TEXT_MAX: Final = 1000
NOTE_MAX: Final = 500
MAX_TEMPLATES: Final = 200
MAX_PLACEHOLDERS: Final = 10
MIN_OWN_CHARACTERS: Final = 10
VALUE_MIN: Final = 1
VALUE_MAX: Final = 60

PLACEHOLDER_RE: Final = re.compile(r"\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")
# A name holds no control character at all; a text may hold line breaks and tabs.
_TEXT_CONTROL_RE: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_WHITESPACE_RE: Final = re.compile(r"\s+")
#: What str.splitlines() breaks on: a whitespace run holding one of these held a line break.
_LINE_BREAK_RE: Final = re.compile(r"[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")

K = TypeVar("K")


# --- Declaring -----------------------------------------------------------------------------------


def check_template_mode(value: object) -> str:
    """Return the account's template requirement, or raise DomainError."""
    if not isinstance(value, str) or value not in TEMPLATE_MODES:
        raise DomainError(
            "invalid_informative_templates",
            "informative_templates must be 'off', 'declared' or 'approved'.",
            "informative_templates",
        )
    return value


def check_template_name(name: object) -> str:
    """Return a template's name tidied (spaces collapsed), or raise DomainError."""
    if not isinstance(name, str) or not name.strip():
        raise DomainError("missing_field", "A template needs a name.", "name")
    return check_one_line(name, field="name", what="The template's name", max_length=NAME_MAX)


def check_note(note: object, *, required: bool) -> str | None:
    """Return the operator's review note tidied (None when absent and optional), or raise DomainError."""
    if note is None or (isinstance(note, str) and not note.strip()):
        if required:
            raise DomainError("missing_field", "Say why the template is rejected: the account reads it.", "note")
        return None
    return check_one_line(note, field="note", what="The note", max_length=NOTE_MAX)


def placeholders_of(text: str) -> tuple[str, ...]:
    """Return the placeholder names of a template, in order, each once."""
    found: list[str] = []
    for match in PLACEHOLDER_RE.finditer(text):
        if match.group(1) not in found:
            found.append(match.group(1))
    return tuple(found)


def check_template_text(text: object) -> tuple[str, ...]:
    """Check a template's text (shape only, see ``screen_template``); return its placeholder names."""
    if not isinstance(text, str) or not text.strip():
        raise DomainError("empty_text", "The template's text is empty.", "text")
    if len(text) > TEXT_MAX:
        raise DomainError("too_long", f"A template's text holds at most {TEXT_MAX} characters.", "text")
    bad = _TEXT_CONTROL_RE.search(text)
    if bad or has_unstorable(text):
        shown = repr(bad.group()) if bad else "NUL or an unpaired surrogate"
        raise DomainError("invalid_character", f"The template's text contains a control character ({shown}).", "text")
    slots = list(PLACEHOLDER_RE.finditer(text))
    if len(slots) > MAX_PLACEHOLDERS:
        raise DomainError(
            "too_many_placeholders",
            f"A template holds at most {MAX_PLACEHOLDERS} placeholders; this one has {len(slots)}.",
            "text",
        )
    for before, after in itertools.pairwise(slots):
        if not text[before.end() : after.start()].strip():
            raise DomainError(
                "adjacent_placeholders",
                f"{before.group(0)} and {after.group(0)} follow each other: write at least one word "
                "between two placeholders.",
                "text",
            )
    own = sum(len(piece) for piece in PLACEHOLDER_RE.sub(" ", text).split())
    if own < MIN_OWN_CHARACTERS:
        raise DomainError(
            "template_too_generic",
            f"A template needs at least {MIN_OWN_CHARACTERS} characters of its own besides placeholders and "
            f"spaces (this one has {own}): it must say what the message is about.",
            "text",
        )
    return placeholders_of(text)


def screen_template(text: str) -> None:
    """Raise ``promotional_content`` when the detector finds the template promotional, naming each signal."""
    from halte_rules.promotional import is_promotional, promotional_signals

    if not is_promotional(text):
        return
    found = "; ".join(f"{signal.name} ({signal.excerpt!r})" for signal in promotional_signals(text))
    raise DomainError(
        "promotional_content",
        f"This template is promotional: {found}. Informative templates carry notifications only; "
        "promotions are sent as kind 'marketing' (consent, hours and the STOP mention apply).",
        "text",
    )


def detector_version() -> str:
    """Return the version of the promotional detector that screens templates (kept beside each one)."""
    from halte_rules.promotional import DETECTOR_VERSION

    return str(DETECTOR_VERSION)


def review(state: str, action: str) -> str | None:
    """Return a template's state after an action, None when the action changes nothing, or raise DomainError."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if state == "retired":
        if action == "retire":
            return None
        raise DomainError("invalid_status", f"A retired template cannot be {action}d.", "state")
    target = {"approve": "approved", "reject": "rejected", "retire": "retired"}[action]
    return None if state == target else target


def usable_states(mode: str) -> frozenset[str]:
    """Return the states whose templates may carry an informative text under this requirement."""
    return USABLE_STATES[check_template_mode(mode)]


# --- Matching ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompiledTemplate:
    """A template ready to match: its literal pieces around the placeholders, spaces collapsed."""

    pieces: tuple[str, ...]  # one more than the placeholders
    min_length: int
    max_length: int

    @property
    def placeholders(self) -> int:
        """How many values a matching text holds."""
        return len(self.pieces) - 1


@dataclass(frozen=True, slots=True)
class FlatText:
    """A text trimmed with each whitespace run as one space, and where runs held a line break."""

    text: str
    breaks: tuple[int, ...]  # indexes (in ``text``) of the spaces that stood for a line break


def _collapse(text: str) -> str:
    return _WHITESPACE_RE.sub(" ", text)


@functools.lru_cache(maxsize=4096)
def compile_template(text: str) -> CompiledTemplate:
    """Return the compiled form of a template's text (cached)."""
    pieces = [_collapse(piece) for piece in PLACEHOLDER_RE.split(text)[::2]]
    pieces[0] = pieces[0].lstrip()
    pieces[-1] = pieces[-1].rstrip()
    own = sum(len(piece) for piece in pieces)
    slots = len(pieces) - 1
    return CompiledTemplate(tuple(pieces), own + slots * VALUE_MIN, own + slots * VALUE_MAX)


def flatten(text: str) -> FlatText:
    """Return a text as matching reads it (see the module docstring)."""
    parts: list[str] = []
    breaks: list[int] = []
    length = 0
    position = 0
    stripped = text.strip()
    for run in _WHITESPACE_RE.finditer(stripped):
        word = stripped[position : run.start()]
        parts.append(word)
        length += len(word)
        if _LINE_BREAK_RE.search(run.group()):
            breaks.append(length)
        parts.append(" ")
        length += 1
        position = run.end()
    parts.append(stripped[position:])
    return FlatText("".join(parts), tuple(breaks))


def _value_fits(starts: list[int], end: int, breaks: tuple[int, ...]) -> bool:
    # Is there a start p with a value text[p:end] of 1 to 60 characters holding no line break?
    lowest = end - VALUE_MAX
    last_break = bisect_left(breaks, end) - 1
    if last_break >= 0:
        lowest = max(lowest, breaks[last_break] + 1)
    index = bisect_left(starts, lowest)
    return index < len(starts) and starts[index] <= end - VALUE_MIN


def _matches_flat(template: CompiledTemplate, flat: FlatText) -> bool:
    text = flat.text
    size = len(text)
    if not template.min_length <= size <= template.max_length:
        return False
    pieces = template.pieces
    head, tail = pieces[0], pieces[-1]
    if not text.startswith(head):
        return False
    if template.placeholders == 0:
        return size == len(head)
    if not text.endswith(tail) or size - len(tail) < len(head) + VALUE_MIN:
        return False
    starts = [len(head)]  # where the current placeholder's value may begin: sorted, distinct
    for piece in pieces[1:-1]:
        first = starts[0] + VALUE_MIN
        last = min(starts[-1] + VALUE_MAX, size - len(tail))  # the latest the piece may begin
        following: list[int] = []
        at = text.find(piece, first, last + len(piece))
        while at != -1:
            if _value_fits(starts, at, flat.breaks):
                following.append(at + len(piece))
            at = text.find(piece, at + 1, last + len(piece))
        if not following:
            return False
        starts = following
    return _value_fits(starts, size - len(tail), flat.breaks)


def matches(template_text: str, text: str) -> bool:
    """Tell whether a text matches a template (see the module docstring)."""
    return _matches_flat(compile_template(template_text), flatten(text))


def first_match(templates: Iterable[tuple[K, str]], text: str) -> K | None:
    """Return the key of the first (key, template text) the text matches, or None."""
    flat = flatten(text)
    for key, template_text in templates:
        if _matches_flat(compile_template(template_text), flat):
            return key
    return None
