"""Request bodies: every one refuses unknown fields (an account_id, status or balance is never applied).

Types stay loose where the domain gives the precise refusal (a kind, a short code, a
consent field), so the client gets the rule's own code and message rather than a
generic type error.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from halte_campaign_api.domain.errors import has_unstorable


def _storable(value: Any) -> Any:
    # Walk strings inside lists and dicts too (tags, audience numbers).
    if isinstance(value, str):
        if has_unstorable(value):
            raise ValueError("contains a NUL character or an unpaired surrogate, which cannot be stored")
    elif isinstance(value, list):
        for item in value:
            _storable(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key)
            _storable(item)
    return value


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_unstorable(cls, value: Any) -> Any:
        return _storable(value)


class AccountCreate(Body):
    name: str = Field(max_length=1000)
    short_code: str | None = Field(default=None, max_length=50, description="The account's 5-digit short code.")
    short_codes: list[str] | None = Field(default=None, max_length=20, description="Several short codes.")
    mode: str = Field(description="marketing or notification")
    contact_info: str = Field(max_length=2000)
    allow_resubscribe: StrictBool = False
    hours_profile: str = "strict"
    window_start: str | None = Field(default=None, max_length=10)
    window_end: str | None = Field(default=None, max_length=10)
    non_commercial: StrictBool = Field(
        default=False, description="Allow contacts on the non_commercial consent basis (charities...)."
    )


class AccountPatch(Body):
    name: str | None = Field(default=None, max_length=1000)
    contact_info: str | None = Field(default=None, max_length=2000)
    mode: str | None = None
    short_codes: list[str] | None = Field(default=None, max_length=20)
    allow_resubscribe: StrictBool | None = None
    hours_profile: str | None = None
    window_start: str | None = Field(default=None, max_length=10)
    window_end: str | None = Field(default=None, max_length=10)
    non_commercial: StrictBool | None = None
    informative_templates: str | None = Field(default=None, description="off, declared or approved.")


class CreditTopUp(Body):
    amount: StrictInt = Field(description="Credits to add (a debt is settled first).")
    reason: str = Field(min_length=1, max_length=200)
    reference: str | None = Field(
        default=None, min_length=1, max_length=100, description="Your reference; a repeated one adds nothing."
    )


class ApiKeyCreate(Body):
    label: str | None = Field(default=None, max_length=100)


class ConsentIn(Body):
    basis: str = Field(description="opt_in, customer, b2b, non_commercial or none")
    collected_at: str | None = Field(default=None, max_length=64)
    source: str | None = Field(default=None, max_length=1000)
    wording: str | None = Field(default=None, max_length=10000)
    last_purchase_at: str | None = Field(default=None, max_length=64)
    profession: str | None = Field(default=None, max_length=1000)
    purchase_categories: Any = Field(
        default=None, description="Basis customer: the categories of products or services bought (a list)."
    )


class ContactPut(Body):
    first_name: str | None = Field(default=None, max_length=1000)
    last_name: str | None = Field(default=None, max_length=1000)
    postal_code: str | None = Field(default=None, max_length=100)
    tags: list[str] | None = Field(default=None, max_length=200)
    consent: ConsentIn


class AudienceIn(Body):
    tags: list[str] | None = Field(default=None, max_length=200)
    phones: list[str] | None = None


class DefaultsIn(Body):
    first_name: str | None = Field(default=None, max_length=1000)
    last_name: str | None = Field(default=None, max_length=1000)


class CampaignCreate(Body):
    name: str = Field(max_length=1000)
    kind: str = Field(description="marketing or informative")
    text: str = Field(max_length=10000)
    audience: AudienceIn | None = None
    send_at: AwareDatetime | None = None
    short_code: str | None = Field(default=None, max_length=50, description="One of the account's short codes.")
    defaults: DefaultsIn | None = Field(default=None, description="Values used when a contact has none.")
    category: Any = Field(
        default=None, description="Marketing: the category of products or services the campaign concerns."
    )
    professions: Any = Field(default=None, description="Marketing: the professions the campaign concerns (b2b).")


class MessageCreate(Body):
    phone: str = Field(max_length=100)
    text: str = Field(max_length=10000)
    kind: str = Field(description="marketing or informative")
    send_at: AwareDatetime | None = None
    short_code: str | None = Field(default=None, max_length=50)
    category: Any = Field(
        default=None, description="Marketing: the category of products or services the message concerns."
    )
    professions: Any = Field(default=None, description="Marketing: the professions the message concerns (b2b).")


class OptoutCreate(Body):
    phone: str = Field(max_length=100)
    channel: Literal["api"] = "api"
