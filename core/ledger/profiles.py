"""Business profiles: what a customer's reply templates say about the business.

A reply template names placeholders (``{{Website Name}}``, ``{{Customer Support Phone
Number}}``, ...: :data:`core.packs.manifest.TEMPLATE_PLACEHOLDERS`). The profile supplies the
values of those that are facts about the business; :mod:`core.assistant.templates` renders a
template from them, dropping what the profile does not say.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.ledger.access_cache import AccessCache
from core.ledger.common import audit, insert_for, utcnow_
from core.ledger.db import Database
from core.ledger.models import BusinessProfileRow

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[A-Za-z]{2,63}$")
_PHONE = re.compile(r"^\+?[0-9 ()./-]{5,30}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class BusinessProfile(BaseModel):
    """Every field is optional: a template sentence that needs a missing one is dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    business_name: str | None = Field(default=None, max_length=120)
    website: str | None = Field(
        default=None, max_length=200, description="shown for {{Website Name}}, e.g. example.com"
    )
    support_email: str | None = Field(default=None, max_length=254)
    support_phone: str | None = Field(default=None, max_length=30)
    support_hours: str | None = Field(
        default=None,
        max_length=200,
        description='when support answers, read after "available": e.g. "Monday to Friday, '
        '9:00 to 17:00"',
    )
    live_chat: str | None = Field(
        default=None,
        max_length=200,
        description='where to chat, read as a noun: e.g. "live chat at example.com/help"',
    )

    @field_validator("*")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is not None and _CONTROL.search(value):
            raise ValueError("must be one line of text without control characters")
        return value or None

    @field_validator("support_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an email address (expected name@domain.tld)")
        return value

    @field_validator("support_phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is not None and not _PHONE.match(value):
            raise ValueError(f"{value!r} is not a phone number (digits, spaces, + ( ) . / -)")
        return value

    def placeholder_values(self) -> dict[str, str]:
        """The template placeholders this profile fills, by placeholder name."""
        values = {
            "Website Name": self.website or self.business_name,
            "Customer Support Email Address": self.support_email,
            "Customer Support Phone Number": self.support_phone,
            "Customer Support Availability": self.support_hours,
            "Live Chat": self.live_chat,
        }
        return {name: value for name, value in values.items() if value}


class ProfileService:
    """Reads and replaces business profiles."""

    def __init__(self, db: Database) -> None:
        self.db = db
        # Every templated answer reads the asker's profile: kept like an access decision
        # (replace() below invalidates it, in this process at once, elsewhere by notification
        # or within PACKDESK_ACCESS_CACHE_SECONDS).
        self._values: AccessCache[dict[str, str]] = AccessCache(
            db, db.settings.access_cache_seconds
        )

    async def get(self, account_id: str) -> BusinessProfile:
        """The account's profile; an empty one when it never set it."""
        async with self.db.read() as session:
            row = await session.get(BusinessProfileRow, account_id)
        return BusinessProfile.model_validate(row.profile) if row else BusinessProfile()

    async def placeholder_values(self, account_id: str) -> dict[str, str]:
        """``{placeholder: text}`` for reply templates (a copy: callers may not change the
        cached one)."""
        values = await self._values.get(account_id, lambda: self._read_values(account_id))
        return dict(values)

    async def _read_values(self, account_id: str) -> dict[str, str]:
        return (await self.get(account_id)).placeholder_values()

    async def replace(self, account_id: str, profile: BusinessProfile) -> BusinessProfile:
        """Store ``profile`` as the account's whole profile (audited, fields named only)."""
        data = profile.model_dump(exclude_none=True)
        # An access-changing write: it invalidates the cached placeholder values everywhere.
        async with self.db.write() as session:
            now = utcnow_()
            insert = insert_for(session, BusinessProfileRow).values(
                account_id=account_id, profile=data, updated_at=now
            )
            await session.execute(
                insert.on_conflict_do_update(
                    index_elements=["account_id"], set_={"profile": data, "updated_at": now}
                )
            )
            audit(session, "profile.updated", account_id=account_id, fields=sorted(data))
        return profile


__all__ = ["BusinessProfile", "ProfileService"]
