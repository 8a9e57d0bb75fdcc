"""Redact personal data from customer text, replacing each item with a typed placeholder.

Candidates come from regular expressions (and from ``phonenumbers``' own matcher); every
candidate is then *validated by a library* before it is redacted:

========  ==========================================================================
kind      validation
========  ==========================================================================
EMAIL     syntax (RFC 5322 dot-atom local part, dotted domain, alphabetic TLD)
PHONE     ``phonenumbers.PhoneNumberMatcher`` with ``Leniency.VALID`` for each region in
          :data:`PHONE_REGIONS` (``+``-prefixed international numbers parse in any region)
CARD      ``stdnum.luhn`` checksum, 13-19 digits, and a known card-network prefix
IBAN      ``stdnum.iban`` (country length/format and the mod-97 check digits)
VAT       ``stdnum.eu.vat`` / ``stdnum.gb.vat``; the country prefix is required
SSN       ``stdnum.us.ssn`` (rejects area 000/666/9xx, group 00, serial 0000, known
          advertising numbers); dashed/spaced form, or 9 bare digits after "SSN"/"social
          security"
IP        ``ipaddress.ip_address`` (IPv4 and IPv6)
========  ==========================================================================

Names, street addresses and free-text identifiers are *not* detected: that needs an NER model
which this project does not ship offline. See docs/privacy.md.

Overlapping findings are resolved deterministically: the longest span wins, and between spans
of equal length the more specific kind wins (order of :data:`KIND_PRIORITY`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.eu import vat as eu_vat
from stdnum.gb import vat as gb_vat
from stdnum.us import ssn as us_ssn

from core.errors import ConfigError

EMAIL = "EMAIL"
PHONE = "PHONE"
CARD = "CARD"
IBAN = "IBAN"
VAT = "VAT"
SSN = "SSN"
IP = "IP"

# Ties on span length go to the earlier (more specific) kind: an IBAN or card number is a
# stronger claim than "some digits that also form a valid phone number".
KIND_PRIORITY: tuple[str, ...] = (EMAIL, IBAN, CARD, VAT, SSN, IP, PHONE)
KINDS: frozenset[str] = frozenset(KIND_PRIORITY)

PHONE_REGIONS: tuple[str, ...] = ("US", "GB", "DE", "FR", "IN")


@dataclass(frozen=True, slots=True)
class Finding:
    """One redacted item: its kind and its character span in the *original* text."""

    kind: str
    start: int
    end: int

    @property
    def placeholder(self) -> str:
        return f"[{self.kind}]"


@dataclass(frozen=True, slots=True)
class RedactionResult:
    """The redacted text and what was removed (spans refer to the original text)."""

    text: str
    findings: list[Finding]


# --- candidate patterns ------------------------------------------------------------------------

_EMAIL_RE = re.compile(
    r"(?<![\w.+-])"
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
    r"(?![\w-])"
)

# Runs of digits separated by single spaces or dashes; windows of whole groups are validated,
# so a card number followed by a year ("... 1111 2026") is still found.
_DIGIT_RUN_RE = re.compile(r"(?<![\w.,/-])\d+(?:[ -]\d+)*(?![\w/]|[.,]\d)")

# IBAN: country code + check digits, then alphanumeric groups (spaces allowed every few chars).
_IBAN_RUN_RE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){8,32}(?![A-Za-z0-9])")

_VAT_COUNTRIES = (
    "AT|BE|BG|CY|CZ|DE|DK|EE|EL|ES|FI|FR|HR|HU|IE|IT|LT|LU|LV|MT|NL|PL|PT|RO|SE|SI|SK|XI|GB"
)
# Uppercase prefix only (no IGNORECASE): "de123..." in running text is rarely a VAT number.
_VAT_RE = re.compile(
    rf"(?<![A-Za-z0-9])(?:{_VAT_COUNTRIES})[ -]?[0-9A-Z](?:[ .]?[0-9A-Z]){{7,13}}(?![A-Za-z0-9])"
)

_SSN_RE = re.compile(r"(?<![\w-])\d{3}([- ])\d{2}\1\d{4}(?![\w-])")
_SSN_BARE_RE = re.compile(r"(?<![\w-])\d{9}(?![\w-])")
_SSN_CONTEXT_RE = re.compile(r"(?i)\b(?:ssn|social\s+security(?:\s+(?:number|no\.?|#))?)\W{0,6}$")

_IPV4_RE = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6_RE = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}"
    r"(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])"
)

# A number right after one of these words is a reference the customer is quoting (order,
# tracking, product code...), not a phone number or an IP; skipping it avoids the commonest
# false positives in support text.
_REFERENCE_CONTEXT_RE = re.compile(
    r"(?i)(?:\b(?:order|orders|tracking|track|shipment|parcel|invoice|receipt|ref|reference|"
    r"ticket|case|sku|model|part|item|product|serial|article|art|booking|confirmation|"
    r"voucher|coupon|code|po|rma|batch|lot|isbn|ean|upc)"
    r"(?:\s*(?:no\.?|nr\.?|number|num|id|code|#))?\s*[#:.]?\s*|#\s*)$"
)
_VERSION_CONTEXT_RE = re.compile(
    r"(?i)\b(?:v|ver\.?|version|build|release|firmware|fw|app|"
    r"(?:up|down)(?:dat|grad)(?:e|es|ed|ing)\s+to)\s*$"
)
_DATE_RE = re.compile(r"^(?:\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|\d{1,2}:\d{2}(?::\d{2})?)$")

# Issuer prefixes of the card networks (Visa, Mastercard, Amex, Discover, JCB, Diners,
# UnionPay, Maestro); a Luhn-valid number outside them is far more likely a reference number.
_CARD_PREFIX_RE = re.compile(
    r"^(?:4|5[1-5]|222[1-9]|22[3-9]\d|2[3-6]\d\d|27[01]\d|2720|3[47]|6011|65|64[4-9]|"
    r"35(?:2[89]|[3-8]\d)|3(?:0[0-5]|[689])|62|5[06-9]|6[0-9])"
)


def _context_before(text: str, start: int, width: int = 40) -> str:
    return text[max(0, start - width) : start]


def _group_windows(text: str, start: int, end: int, sep: str) -> Iterator[tuple[int, int]]:
    """Yield (start, end) windows made of whole groups of ``text[start:end]``, longest first."""
    bounds: list[tuple[int, int]] = []
    pos = start
    for part in re.split(f"([{re.escape(sep)}])", text[start:end]):
        if part and part not in sep:
            bounds.append((pos, pos + len(part)))
        pos += len(part)
    n = len(bounds)
    for size in range(n, 0, -1):
        for i in range(0, n - size + 1):
            yield bounds[i][0], bounds[i + size - 1][1]


# --- detectors ---------------------------------------------------------------------------------


def _find_emails(text: str) -> Iterator[Finding]:
    for m in _EMAIL_RE.finditer(text):
        local = m.group().split("@", 1)[0]
        if len(local) <= 64:
            yield Finding(EMAIL, m.start(), m.end())


def _card_grouping_ok(candidate: str) -> bool:
    """Cards are written unbroken or in the printed groups (4-4-4-4[-n], Amex 4-6-5, 4-6-4);
    other groupings ("589-4813291-9998561") are order or account numbers."""
    groups = [len(g) for g in re.split(r"[ -]", candidate)]
    if len(groups) == 1:
        return True
    if groups in ([4, 6, 5], [4, 6, 4]):
        return True
    return (
        len(groups) >= 4
        and all(g == 4 for g in groups[:4])
        and all(1 <= g <= 4 for g in groups[4:])
    )


def _find_cards(text: str) -> Iterator[Finding]:
    for m in _DIGIT_RUN_RE.finditer(text):
        for s, e in _group_windows(text, m.start(), m.end(), " -"):
            digits = re.sub(r"\D", "", text[s:e])
            if (
                13 <= len(digits) <= 19
                and _card_grouping_ok(text[s:e])
                and _CARD_PREFIX_RE.match(digits)
                and luhn.is_valid(digits)
            ):
                yield Finding(CARD, s, e)
                break


def _find_ibans(text: str) -> Iterator[Finding]:
    for m in _IBAN_RUN_RE.finditer(text):
        # Over-capture is common ("... 0130 00 ASAP"): try whole-group windows from the start.
        for s, e in _group_windows(text, m.start(), m.end(), " "):
            if s != m.start():
                continue
            if stdnum_iban.is_valid(text[s:e]):
                yield Finding(IBAN, s, e)
                break


def _find_vat(text: str) -> Iterator[Finding]:
    for m in _VAT_RE.finditer(text):
        for s, e in _group_windows(text, m.start(), m.end(), " "):
            if s != m.start():
                continue
            candidate = text[s:e]
            valid = gb_vat.is_valid if candidate.startswith("GB") else eu_vat.is_valid
            if valid(candidate):
                yield Finding(VAT, s, e)
                break


def _find_ssns(text: str) -> Iterator[Finding]:
    for m in _SSN_RE.finditer(text):
        if us_ssn.is_valid(m.group().replace(" ", "-")):
            yield Finding(SSN, m.start(), m.end())
    for m in _SSN_BARE_RE.finditer(text):
        # Nine bare digits are usually an order or account number; only with an explicit label.
        if _SSN_CONTEXT_RE.search(_context_before(text, m.start())) and us_ssn.is_valid(m.group()):
            yield Finding(SSN, m.start(), m.end())


def _find_ips(text: str) -> Iterator[Finding]:
    for m in _IPV4_RE.finditer(text):
        if _VERSION_CONTEXT_RE.search(_context_before(text, m.start())):
            continue
        try:
            ipaddress.IPv4Address(m.group())
        except ValueError:
            continue
        yield Finding(IP, m.start(), m.end())
    for m in _IPV6_RE.finditer(text):
        candidate = m.group()
        if candidate.count(":") < 2 or not re.search(r"[0-9A-Fa-f]", candidate):
            continue
        try:
            ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        yield Finding(IP, m.start(), m.end())


class _PhoneFinder:
    """Phone numbers via ``phonenumbers`` (imported on first use: it loads metadata)."""

    def __init__(self, regions: tuple[str, ...]) -> None:
        self._regions = regions
        self._pn: Any = None

    def __call__(self, text: str) -> Iterator[Finding]:
        if self._pn is None:
            import phonenumbers

            self._pn = phonenumbers
        pn = self._pn
        seen: set[tuple[int, int]] = set()
        for region in self._regions:
            for match in pn.PhoneNumberMatcher(text, region, leniency=pn.Leniency.VALID):
                span = (match.start, match.end)
                if span in seen or not self._plausible(text, *span):
                    continue
                seen.add(span)
                yield Finding(PHONE, *span)

    @staticmethod
    def _plausible(text: str, start: int, end: int) -> bool:
        raw = text[start:end]
        # Real subscriber numbers in the supported regions have at least 7 digits; shorter
        # "valid" matches are prices ("168.80") or quantities far more often than phones.
        if sum(c.isdigit() for c in raw) < 7 or _DATE_RE.match(raw.strip()):
            return False
        if _REFERENCE_CONTEXT_RE.search(_context_before(text, start)):
            return False
        # Part of a longer digit sequence (e.g. inside a Luhn-invalid card number).
        before = text[start - 1 : start] if start else ""
        after = text[end : end + 2]
        if before.isdigit() or re.match(r"^[ -]?\d", after):
            return False
        return True


def resolve_overlaps(findings: list[Finding]) -> list[Finding]:
    """Keep a non-overlapping subset: longest span first, then the more specific kind.

    Args:
        findings: candidates, possibly overlapping and duplicated.

    Returns:
        The kept findings, sorted by start offset.
    """
    rank = {kind: i for i, kind in enumerate(KIND_PRIORITY)}
    ordered = sorted(set(findings), key=lambda f: (-(f.end - f.start), rank[f.kind], f.start))
    kept: list[Finding] = []
    for f in ordered:
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)


class Redactor:
    """Finds personal data and replaces it with ``[KIND]`` placeholders.

    Stateless after construction and safe to share between threads; build one per process.

    Args:
        phone_regions: ISO regions whose national phone formats are recognised.
        kinds: the kinds to detect (default: all of :data:`KINDS`).
    """

    def __init__(
        self,
        *,
        phone_regions: tuple[str, ...] = PHONE_REGIONS,
        kinds: frozenset[str] | None = None,
    ) -> None:
        self.kinds = KINDS if kinds is None else frozenset(kinds)
        unknown = self.kinds - KINDS
        if unknown:
            raise ConfigError(
                f"unknown redaction kinds {sorted(unknown)}; expected {sorted(KINDS)}"
            )
        detectors: dict[str, Callable[[str], Iterator[Finding]]] = {
            EMAIL: _find_emails,
            PHONE: _PhoneFinder(phone_regions),
            CARD: _find_cards,
            IBAN: _find_ibans,
            VAT: _find_vat,
            SSN: _find_ssns,
            IP: _find_ips,
        }
        self._detectors = [detectors[k] for k in KIND_PRIORITY if k in self.kinds]

    def find(self, text: str) -> list[Finding]:
        """Return the non-overlapping findings in ``text``, sorted by start offset."""
        candidates = [f for detect in self._detectors for f in detect(text)]
        return resolve_overlaps(candidates)

    def redact(self, text: str) -> RedactionResult:
        """Replace every finding in ``text`` with its placeholder.

        Returns:
            The redacted text and the findings (offsets into the original ``text``).
        """
        findings = self.find(text)
        parts: list[str] = []
        pos = 0
        for f in findings:
            parts.append(text[pos : f.start])
            parts.append(f.placeholder)
            pos = f.end
        parts.append(text[pos:])
        return RedactionResult(text="".join(parts), findings=findings)
