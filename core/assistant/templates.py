"""Reply templates rendered for one business: no ``{{placeholder}}`` ever reaches a customer.

A template names placeholders from :data:`core.packs.manifest.TEMPLATE_PLACEHOLDERS` (the
set the built-in templates use; an uploaded pack naming another is refused at review). Three
kinds:

- facts about the business (:data:`PROFILE_PLACEHOLDERS`), filled from its profile
  (:meth:`core.ledger.profiles.BusinessProfile.placeholder_values`); a sentence that needs a
  fact the profile does not give is dropped;
- names of pages and sections of a shop's site (:data:`SECTION_PLACEHOLDERS`: "Order History",
  "Billing", ...), written as the plain name, a neutral wording that fits any business;
- values of one past conversation in the source data (:data:`DROPPED_PLACEHOLDERS`: an order
  id): the sentence is dropped.

Numbered steps are renumbered after a drop, so "1. 2. 4." never shows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

PROFILE_PLACEHOLDERS = frozenset(
    {
        "Website Name",
        "Customer Support Email Address",
        "Customer Support Phone Number",
        "Customer Support Availability",
        "Live Chat",
    }
)
SECTION_PLACEHOLDERS = frozenset(
    {
        "Account",
        "Billing",
        "Contact Us",
        "Customer Support",
        "Footer",
        "Help",
        "Invoices",
        "Order Details",
        "Order History",
        "Payment Methods",
        "Support",
        "Swap Item",
    }
)
DROPPED_PLACEHOLDERS = frozenset({"Purchase ID Anonymized"})
# "Website Name" is a fact when the profile gives it, else this neutral wording.
NEUTRAL_WEBSITE = "website"

_PLACEHOLDER = re.compile(r"\{\{([^{}]{1,60})\}\}")
_STEP = re.compile(r"^(\s*)(\d{1,3})\.(\s+)")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
_STRAY_BRACES = re.compile(r"\{\{|\}\}")


def render_template(template: str, values: Mapping[str, str]) -> str:
    """``template`` with its placeholders filled from ``values`` (placeholder name -> text).

    A sentence naming a placeholder without a value is left out; so is a step or line left
    empty. The result never contains ``{{`` or ``}}``.
    """
    lines: list[str] = []
    step = 0
    for raw_line in template.replace("\r\n", "\n").split("\n"):
        match = _STEP.match(raw_line)
        prefix, body = "", raw_line if match is None else raw_line[match.end() :]
        kept = [s for s in (_fill(s, values) for s in _SENTENCE.split(body)) if s is not None]
        text = " ".join(part for part in kept if part.strip())
        if match is not None:
            if not text.strip():
                continue  # the whole step needed a missing value: drop it, renumber the rest
            step += 1
            prefix = f"{match.group(1)}{step}.{match.group(3)}"
        elif not raw_line.strip():
            step = 0  # a blank line ends a numbered list
        elif not text.strip():
            continue
        lines.append(prefix + text)
    rendered = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return _STRAY_BRACES.sub("", rendered)  # a malformed "{{" left by a bad template


def _fill(sentence: str, values: Mapping[str, str]) -> str | None:
    """The sentence with its placeholders replaced, or None when one has no value."""
    missing = False

    def value(match: re.Match[str]) -> str:
        nonlocal missing
        name = match.group(1).strip()
        if name in values:
            return values[name]
        if name == "Website Name":
            return NEUTRAL_WEBSITE
        if name in SECTION_PLACEHOLDERS:
            return name
        missing = True
        return ""

    filled = _PLACEHOLDER.sub(value, sentence)
    return None if missing else filled


__all__ = [
    "DROPPED_PLACEHOLDERS",
    "PROFILE_PLACEHOLDERS",
    "SECTION_PLACEHOLDERS",
    "render_template",
]
