"""The unsubscribe page (``GET``/``POST /u/{token}``): plain server-rendered HTML, French or English, no JavaScript.

The signed token in the link is the recipient's capability: it names the account and the
number, so the page needs no login and nobody can unsubscribe (or read) another number by
editing the URL. A tampered or truncated link gets a 400 page that says so.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from halte_inbound.adapters.directory import account_name
from halte_inbound.domain.unsubscribe import Language, mask_phone, pick_language
from halte_inbound.entrypoints.deps import Runtime, read_body
from halte_inbound.handlers import confirm_web_optout
from halte_shared.signing import BadSignature, read_unsubscribe_token
from halte_shared.web import ApiError

router = APIRouter(tags=["unsubscribe page"])

_TEMPLATES: Final = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
_E164: Final = re.compile(r"^\+[1-9]\d{6,14}$")
_MAX_TOKEN = 1024
_MAX_FORM = 4096
_LANGUAGES: Final = (("fr", "Français"), ("en", "English"))

TEXTS: Final[dict[Language, dict[str, str]]] = {
    "en": {
        "confirm_title": "Unsubscribe from text messages",
        "confirm_intro_before": "Confirm that you no longer want to receive marketing text messages from",
        "confirm_intro_after": "at",
        "button": "Unsubscribe",
        "free_note": "Unsubscribing is free. You may still receive service messages such as appointment "
        "reminders or delivery notices.",
        "done_title": "You are unsubscribed",
        "done_body": "will no longer send marketing text messages to",
        "done_note": "Your request has been recorded. You can close this page.",
        "invalid_title": "This unsubscribe link is not valid",
        "invalid_body": "The link has been altered or was copied incompletely, so we cannot tell which number "
        "it is for. Nothing has been changed.",
        "invalid_help": "Open the link exactly as it appears in the text message you received.",
        "language_label": "Language",
        "someone": "this sender",
        "title_confirm": "Unsubscribe",
        "title_done": "Unsubscribed",
        "title_invalid": "Invalid unsubscribe link",
    },
    "fr": {
        "confirm_title": "Se désabonner des SMS",
        "confirm_intro_before": "Confirmez que vous ne souhaitez plus recevoir de SMS publicitaires de",
        "confirm_intro_after": "au",
        "button": "Me désabonner",
        "free_note": "Le désabonnement est gratuit. Vous pourrez encore recevoir des messages de service, "
        "comme des rappels de rendez-vous ou des avis de livraison.",
        "done_title": "Vous êtes désabonné",
        "done_body": "ne vous enverra plus de SMS publicitaires au",
        "done_note": "Votre demande est enregistrée. Vous pouvez fermer cette page.",
        "invalid_title": "Ce lien de désabonnement n'est pas valide",
        "invalid_body": "Le lien a été modifié ou copié de façon incomplète : nous ne pouvons pas savoir à quel "
        "numéro il correspond. Rien n'a été changé.",
        "invalid_help": "Ouvrez le lien exactement tel qu'il figure dans le SMS reçu.",
        "language_label": "Langue",
        "someone": "cet expéditeur",
        "title_confirm": "Désabonnement",
        "title_done": "Désabonnement confirmé",
        "title_invalid": "Lien de désabonnement non valide",
    },
}

_HEADERS: Final = {
    # The token in the URL is a capability: never cache the page, never leak it as a referrer,
    # never let another site frame the button.
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
}


def _render(
    *, state: str, lang: Language, status: int, advertiser: str = "", masked: str = "", action: str = ""
) -> HTMLResponse:
    t = TEXTS[lang]
    html = _TEMPLATES.get_template("page.html").render(
        state=state,
        lang=lang,
        t=t,
        title=t[f"title_{state}"],
        advertiser=advertiser,
        masked_phone=masked,
        action=action,
        languages=_LANGUAGES,
    )
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def _read_token(runtime: Runtime, token: str) -> tuple[str, str] | None:
    # hmac.compare_digest raises TypeError on non-ASCII str (halte_shared.signing compares str):
    # a token is base64url, so anything else is refused here, before it can become a 500.
    if len(token) > _MAX_TOKEN or not token.isascii():
        return None
    try:
        account_id, phone = read_unsubscribe_token(runtime.settings.unsubscribe_secret_value(), token)
    except BadSignature:
        return None
    if not _E164.match(phone) or not account_id or len(account_id) > 64 or not account_id.isprintable():
        return None
    return account_id, phone


async def _advertiser(runtime: Runtime, account_id: str, lang: Language) -> str:
    async with runtime.sessions() as session:
        name = await account_name(session, account_id)
    return name or TEXTS[lang]["someone"]


@router.get("/u/{token}", response_class=HTMLResponse, summary="Show the unsubscribe page")
async def unsubscribe_page(token: str, request: Request, runtime: Runtime, lang: str | None = None) -> HTMLResponse:
    """Show who the link unsubscribes from, for which number, and a confirm button (400 for a tampered link)."""
    language = pick_language(request.headers.get("accept-language"), override=lang)
    claims = _read_token(runtime, token)
    if claims is None:
        return _render(state="invalid", lang=language, status=400)
    account_id, phone = claims
    return _render(
        state="confirm",
        lang=language,
        status=200,
        advertiser=await _advertiser(runtime, account_id, language),
        masked=mask_phone(phone),
        action=str(request.url.path),
    )


@router.post("/u/{token}", response_class=HTMLResponse, summary="Confirm an unsubscription")
async def unsubscribe_confirm(token: str, request: Request, runtime: Runtime) -> HTMLResponse:
    """Record the opt-out (channel web) and show the confirmation (400 for a tampered link)."""
    requested: str | None = None
    try:
        form = parse_qsl((await read_body(request, limit=_MAX_FORM)).decode("utf-8"), max_num_fields=10)
        requested = dict(form).get("lang")
    except (ApiError, ValueError):
        pass  # an unreadable form still deserves the page: the token, not the form, decides
    language = pick_language(request.headers.get("accept-language"), override=requested)
    claims = _read_token(runtime, token)
    if claims is None:
        return _render(state="invalid", lang=language, status=400)
    account_id, phone = claims
    await confirm_web_optout(runtime, account_id=account_id, phone=phone, language=language)
    return _render(
        state="done",
        lang=language,
        status=200,
        advertiser=await _advertiser(runtime, account_id, language),
        masked=mask_phone(phone),
    )
