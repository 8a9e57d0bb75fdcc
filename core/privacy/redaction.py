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
DOB       a date right after "born", "DOB", "date of birth", "birthday": ``datetime.date``
          (a real calendar day, year 1900 to this year)
IP        ``ipaddress.ip_address`` (IPv4 and IPv6)
========  ==========================================================================

Text is matched in a normalised form (NFKC per character, every Unicode decimal digit as its
ASCII digit), so full-width or other-script digits are found too; spans are mapped back to the
original text.

Every detector costs time linear in the input: candidate patterns have bounded repetitions
or cannot backtrack across their own matches, and validation looks at bounded windows (a card
number spans at most :data:`_MAX_CARD_GROUPS` digit groups, so a long run of digit groups is
never tried window by window). ``tests/core/privacy/test_redaction_linear_time.py`` holds
hostile inputs to the limit.

Names, street addresses and free-text identifiers are *not* detected: that needs an NER model
which this project does not ship offline. See docs/privacy.md.

Overlapping findings are resolved deterministically: the longest span wins, and between spans
of equal length the more specific kind wins (order of :data:`KIND_PRIORITY`).
"""

from __future__ import annotations

import bisect
import datetime
import ipaddress
import re
import unicodedata
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
DOB = "DOB"
IP = "IP"

# Ties on span length go to the earlier (more specific) kind: an IBAN or card number is a
# stronger claim than "some digits that also form a valid phone number".
KIND_PRIORITY: tuple[str, ...] = (EMAIL, IBAN, CARD, VAT, SSN, DOB, IP, PHONE)
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


# --- normalisation -----------------------------------------------------------------------------


def _normalise(text: str) -> tuple[str, list[int] | None]:
    """``text`` with each character NFKC-normalised and Unicode decimal digits made ASCII.

    Returns:
        The normalised text and, when it differs from ``text``, the index in ``text`` of each
        of its characters (None for pure ASCII, which needs no mapping).
    """
    if text.isascii():
        return text, None
    parts: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        if char.isascii():
            parts.append(char)
            origin.append(index)
            continue
        # Per character, not per string, so each output character has one source character.
        for out in unicodedata.normalize("NFKC", char):
            digit = unicodedata.decimal(out, None)
            parts.append(str(digit) if digit is not None else out)
            origin.append(index)
    normalised = "".join(parts)
    return normalised, (None if normalised == text else origin)


# --- candidate patterns ------------------------------------------------------------------------

_EMAIL_LOCAL_CHARS = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
_EMAIL_RE = re.compile(
    r"(?<![\w.+-])"
    # At most 64 local-part characters up to the "@": this bounds the work at each start
    # (without it, "a!a!a!..." made every position scan to the end of the run).
    rf"(?=[.{_EMAIL_LOCAL_CHARS}]{{1,64}}@)"
    rf"[{_EMAIL_LOCAL_CHARS}]+(?:\.[{_EMAIL_LOCAL_CHARS}]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
    r"(?![\w-])"
)

# Maximal runs of digit groups separated by single spaces, dashes or dots. A run may start
# right after a word ("card4111...", "card-4111...") but not inside a number or a decimal.
_DIGIT_RUN_RE = re.compile(r"(?<![\d.,/])(?<![\d.,/]-)\d+(?:[ .-]\d+)*(?![\w/]|[.,]\d)")
_DIGIT_GROUP_RE = re.compile(r"\d+")
# A number glued to a word ("card4111...", "card-4111...") is a card only after a card word;
# after other words it is a reference ("JD572140686854207094" is a parcel).
_CARD_WORD_RE = re.compile(
    r"(?i)\b(?:card|cc|visa|mastercard|mc|amex|discover|jcb|maestro|unionpay|credit|debit)-?$"
)
# The longest card grouping is 4-4-4-4 plus three single digits (19 digits, 7 groups).
_MAX_CARD_GROUPS = 7
_MAX_CARD_DIGITS = 19

# IBAN: country code + check digits, then alphanumeric groups (a space or dash allowed every
# few chars).
_IBAN_RUN_RE = re.compile(
    r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[ -]?[A-Za-z0-9]){8,32}(?![A-Za-z0-9])"
)

_VAT_COUNTRIES = (
    "AT|BE|BG|CY|CZ|DE|DK|EE|EL|ES|FI|FR|HR|HU|IE|IT|LT|LU|LV|MT|NL|PL|PT|RO|SE|SI|SK|XI|GB"
)
# Uppercase prefix only (no IGNORECASE): "de123..." in running text is rarely a VAT number.
_VAT_RE = re.compile(
    rf"(?<![A-Za-z0-9])(?:{_VAT_COUNTRIES})[ -]?[0-9A-Z](?:[ .]?[0-9A-Z]){{7,13}}(?![A-Za-z0-9])"
)

# Not inside a number; right after a word or a dash ("ssn-123-45-6789") only with an SSN label.
_SSN_RE = re.compile(r"(?<!\d)(?<!\d-)\d{3}([- ])\d{2}\1\d{4}(?![\w-])")
_SSN_BARE_RE = re.compile(r"(?<!\d)(?<!\d-)\d{9}(?![\w-])")
_SSN_CONTEXT_RE = re.compile(r"(?i)\b(?:ssn|social\s+security(?:\s+(?:number|no\.?|#))?)\W{0,6}$")

_MONTHS = (
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"
)  # fmt: skip
_MONTH_RE = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_ORDINAL = r"(?:st|nd|rd|th)?"
# A date right after a birth keyword; only the date is redacted. Every repetition is bounded.
_DOB_RE = re.compile(
    r"(?i)\b(?:born(?:\s{1,3}on)?|d\.?o\.?b\.?|date\s{1,3}of\s{1,3}birth|birth\s?date|birthday)"
    r"(?:\s{1,3}is)?\s{0,3}[:=-]?\s{0,3}"
    r"(?P<date>"
    r"(?P<n1>\d{1,4})(?P<sep>[./-])(?P<n2>\d{1,2})(?P=sep)(?P<n3>\d{2,4})"
    rf"|(?P<d1>\d{{1,2}}){_ORDINAL}\s{{1,3}}(?:of\s{{1,3}})?(?P<m1>{_MONTH_RE})\.?,?\s{{1,3}}"
    r"(?P<y1>\d{4})"
    rf"|(?P<m2>{_MONTH_RE})\.?\s{{1,3}}(?P<d2>\d{{1,2}}){_ORDINAL},?\s{{1,3}}(?P<y2>\d{{4}})"
    r")(?!\w|[./-]\d)"
)

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


def _prefix_windows(text: str, start: int, end: int, seps: str) -> Iterator[tuple[int, int]]:
    """Yield ``(start, e)`` for each whole-group prefix of ``text[start:end]``, longest first.

    Groups are separated by any character of ``seps``; one window per group, so the work is
    linear in the length of the span.
    """
    ends = [end]
    for index in range(end - 1, start, -1):
        if text[index] in seps:
            ends.append(index)
    for window_end in ends:
        yield start, window_end


# --- detectors ---------------------------------------------------------------------------------


def _find_emails(text: str) -> Iterator[Finding]:
    for m in _EMAIL_RE.finditer(text):
        local = m.group().split("@", 1)[0]
        if len(local) <= 64:
            yield Finding(EMAIL, m.start(), m.end())


def _card_grouping_ok(lengths: list[int]) -> bool:
    """Cards are written unbroken or in the printed groups (4-4-4-4[-n], Amex 4-6-5, 4-6-4);
    other groupings ("589-4813291-9998561") are order or account numbers."""
    if len(lengths) == 1:
        return True
    if lengths in ([4, 6, 5], [4, 6, 4]):
        return True
    return (
        len(lengths) >= 4
        and all(g == 4 for g in lengths[:4])
        and all(1 <= g <= 4 for g in lengths[4:])
    )


def _glued_to_other_word(text: str, start: int) -> bool:
    """The digits at ``start`` follow a word directly (or word + dash) that is no card word."""
    before = text[start - 1 : start]
    if before == "-":
        before = text[start - 2 : start - 1]
    if not (before.isalpha() or before == "_"):
        return False
    return _CARD_WORD_RE.search(_context_before(text, start, 20)) is None


def _find_cards(text: str) -> Iterator[Finding]:
    for run in _DIGIT_RUN_RE.finditer(text):
        groups = [(g.start(), g.end()) for g in _DIGIT_GROUP_RE.finditer(text, *run.span())]
        if groups and _glued_to_other_word(text, run.start()):
            groups = groups[1:]
        # Every window of at most _MAX_CARD_GROUPS groups from each group: a bounded number
        # of windows per group, however long the run. All valid ones are candidates; overlaps
        # are resolved with the other kinds (the longest wins).
        for first in range(len(groups)):
            lengths: list[int] = []
            separators: set[str] = set()
            for last in range(first, min(first + _MAX_CARD_GROUPS, len(groups))):
                if last > first:
                    separators.add(text[groups[last - 1][1]])
                lengths.append(groups[last][1] - groups[last][0])
                digit_count = sum(lengths)
                if digit_count > _MAX_CARD_DIGITS:
                    break
                # Dots only when every separator is a dot ("4111.1111.1111.1111").
                if digit_count < 13 or ("." in separators and len(separators) > 1):
                    continue
                if not _card_grouping_ok(lengths):
                    continue
                s, e = groups[first][0], groups[last][1]
                digits = "".join(text[gs:ge] for gs, ge in groups[first : last + 1])
                if _CARD_PREFIX_RE.match(digits) and luhn.is_valid(digits):
                    yield Finding(CARD, s, e)


def _find_ibans(text: str) -> Iterator[Finding]:
    for m in _IBAN_RUN_RE.finditer(text):
        # Over-capture is common ("... 0130 00 ASAP"): try whole-group windows from the start.
        for s, e in _prefix_windows(text, m.start(), m.end(), " -"):
            if stdnum_iban.is_valid(text[s:e]):
                yield Finding(IBAN, s, e)
                break


def _find_vat(text: str) -> Iterator[Finding]:
    for m in _VAT_RE.finditer(text):
        for s, e in _prefix_windows(text, m.start(), m.end(), " "):
            candidate = text[s:e]
            valid = gb_vat.is_valid if candidate.startswith("GB") else eu_vat.is_valid
            if valid(candidate):
                yield Finding(VAT, s, e)
                break


def _ssn_labelled(text: str, start: int) -> bool:
    return _SSN_CONTEXT_RE.search(_context_before(text, start)) is not None


def _find_ssns(text: str) -> Iterator[Finding]:
    for m in _SSN_RE.finditer(text):
        before = text[m.start() - 1] if m.start() else " "
        # Glued to a word or a dash ("ssn-123-45-6789"): only with an SSN label, else part
        # numbers like "part-123-45-6789" would be taken.
        if (before.isalnum() or before in "_-") and not _ssn_labelled(text, m.start()):
            continue
        if us_ssn.is_valid(m.group().replace(" ", "-")):
            yield Finding(SSN, m.start(), m.end())
    for m in _SSN_BARE_RE.finditer(text):
        # Nine bare digits are usually an order or account number; only with an explicit label.
        if _ssn_labelled(text, m.start()) and us_ssn.is_valid(m.group()):
            yield Finding(SSN, m.start(), m.end())


def _month(name: str) -> int:
    return _MONTHS.index(name[:3].lower()) + 1


def _plausible_birth_date(year: int, month: int, day: int) -> bool:
    today = datetime.date.today()
    if not 1900 <= year <= today.year:
        return False
    try:
        return datetime.date(year, month, day) <= today
    except ValueError:
        return False


def _numeric_birth_date_ok(n1: str, n2: str, n3: str) -> bool:
    if len(n1) == 4:  # year first: 1985-03-12
        return len(n3) <= 2 and _plausible_birth_date(int(n1), int(n2), int(n3))
    if len(n1) > 2 or len(n3) == 3:
        return False
    year = int(n3)
    if len(n3) == 2:  # 12/03/85: the most recent century that is not in the future
        year += 2000 if 2000 + year <= datetime.date.today().year else 1900
    first, second = int(n1), int(n2)
    # Day first (most of the world) or month first (US): either reading will do.
    return _plausible_birth_date(year, second, first) or _plausible_birth_date(year, first, second)


def _find_birth_dates(text: str) -> Iterator[Finding]:
    for m in _DOB_RE.finditer(text):
        if m.group("n1") is not None:
            ok = _numeric_birth_date_ok(m.group("n1"), m.group("n2"), m.group("n3"))
        elif m.group("d1") is not None:
            ok = _plausible_birth_date(
                int(m.group("y1")), _month(m.group("m1")), int(m.group("d1"))
            )
        else:
            ok = _plausible_birth_date(
                int(m.group("y2")), _month(m.group("m2")), int(m.group("d2"))
            )
        if ok:
            yield Finding(DOB, m.start("date"), m.end("date"))


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


# Digit groups joined by single spaces, dashes, dots or slashes: a phone match that ends inside
# such a cluster is followed by "[ ./-]?\d" and refused by _PhoneFinder._plausible, so only a
# cluster's last digits can belong to a phone number that is kept.
_PHONE_CLUSTER_RE = re.compile(r"\d+(?:[ ./-]\d+)*")
_LONGER_NUMBER_AFTER_RE = re.compile(r"[ ./-]?\d")
# More digits than any phone match holds (country code 3, national prefix or carrier code,
# national number 17, extension 20).
_MAX_PHONE_DIGITS = 64


def _blank_unreachable_digits(text: str) -> str:
    """``text`` with the head of each long digit cluster replaced by spaces (same length).

    A digit followed by more than :data:`_MAX_PHONE_DIGITS` digits of its own cluster cannot be
    in a kept phone match (the match would have to run to the cluster's end). Blanking such
    heads keeps the ``phonenumbers`` matcher, whose cost per character is high, off long digit
    soups ("1 1 1 ..."); the tail of each cluster, where a kept number can be, stays in place.
    """
    pieces: list[str] = []
    pos = 0
    for m in _PHONE_CLUSTER_RE.finditer(text):
        if m.end() - m.start() <= _MAX_PHONE_DIGITS:
            continue
        digits = 0
        cut = m.start()
        for index in range(m.end() - 1, m.start() - 1, -1):
            if text[index].isdigit():
                digits += 1
                if digits > _MAX_PHONE_DIGITS:
                    cut = index + 1
                    break
        if cut > m.start():
            pieces.append(text[pos : m.start()])
            pieces.append(" " * (cut - m.start()))
            pos = cut
    if not pieces:
        return text
    pieces.append(text[pos:])
    return "".join(pieces)


# Real subscriber numbers in the supported regions have at least this many digits.
MIN_PHONE_DIGITS = 7


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
        # Every match _plausible keeps has MIN_PHONE_DIGITS digits: a text with fewer has none
        # (most questions and answers), and the matcher's scan is skipped.
        if sum(map(str.isdigit, text)) < MIN_PHONE_DIGITS:
            return
        searched = _blank_unreachable_digits(text)
        seen: set[tuple[int, int]] = set()
        for region in self._regions:
            for match in pn.PhoneNumberMatcher(searched, region, leniency=pn.Leniency.VALID):
                span = (match.start, match.end)
                # Judged on the real text: the blanked one has the same offsets.
                if span in seen or not self._plausible(text, *span):
                    continue
                seen.add(span)
                yield Finding(PHONE, *span)

    @staticmethod
    def _plausible(text: str, start: int, end: int) -> bool:
        raw = text[start:end]
        # Shorter "valid" matches (MIN_PHONE_DIGITS) are prices ("168.80") or quantities far
        # more often than phones.
        if sum(c.isdigit() for c in raw) < MIN_PHONE_DIGITS or _DATE_RE.match(raw.strip()):
            return False
        if _REFERENCE_CONTEXT_RE.search(_context_before(text, start)):
            return False
        # Part of a longer digit sequence (e.g. inside a Luhn-invalid card number, an IP address
        # or a dotted reference).
        before = text[start - 1 : start] if start else ""
        if before.isdigit() or _LONGER_NUMBER_AFTER_RE.match(text, end):
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
    # The kept spans never overlap, so sorted by start they are sorted by end too: a new span
    # only has to be checked against its two neighbours (n log n, not n * kept).
    starts: list[int] = []
    kept: list[Finding] = []
    for f in ordered:
        i = bisect.bisect_left(starts, f.start)
        if i > 0 and kept[i - 1].end > f.start:
            continue
        if i < len(kept) and kept[i].start < f.end:
            continue
        starts.insert(i, f.start)
        kept.insert(i, f)
    return kept


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
            DOB: _find_birth_dates,
            IP: _find_ips,
        }
        self._detectors = [detectors[k] for k in KIND_PRIORITY if k in self.kinds]

    def find(self, text: str) -> list[Finding]:
        """Return the non-overlapping findings in ``text``, sorted by start offset."""
        normalised, origin = _normalise(text)
        candidates = [f for detect in self._detectors for f in detect(normalised)]
        findings = resolve_overlaps(candidates)
        if origin is None:
            return findings
        mapped: list[Finding] = []
        for f in findings:
            start, end = origin[f.start], origin[f.end - 1] + 1
            # Two findings may meet inside one character that normalised to several ("ﬁ"):
            # the later one starts after the earlier, so every character is still covered.
            if mapped and start < mapped[-1].end:
                start = mapped[-1].end
            if start < end:
                mapped.append(Finding(f.kind, start, end))
        return mapped

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
