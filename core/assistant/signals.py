"""What a customer message says about needing a person: the signals behind a handoff.

:func:`read_signals` reads one message, whatever the classifier thought of it:

- ``person_requested``: a request for a person anywhere in the message ("can I talk to a real
  person", "put me through to a supervisor", "call me back", "agent", "not a bot");
- ``escalation``: a threat to take the matter outside ("my lawyer will be in touch", "I'm
  reporting you to the ombudsman", "I'll file a chargeback", "I will close my account",
  "one-star review");
- ``complaint``: a complaint about the service ("formal complaint", "unacceptable", "disgusted",
  "still not fixed", "a rip-off"); a complaint about a third party ("a complaint against my
  landlord") is a question for a pack, not one;
- ``repeated_contact``: the customer has been here before ("I've called three times", "this is
  my fourth email", "still waiting", "nobody got back to me", "writing again");
- ``frustration``: explicit strong frustration ("fed up", "at my wits' end", "livid");
- ``exasperation``: a softer frustration phrase ("are you kidding", "unbelievable",
  "stressful"), which needs another cue to count;
- ``intensity``: how many typographic intensity cues the raw text has (0-4): shouting (mostly
  capitals), a run of "!!" / "?!" / "???", one word three times in a row, a letter held
  ("sooooo");
- ``subject_question``: the message only asks about a subject: it ends with "?", has no
  statement before it (no sentence ending in "." or "!"), does not speak of the business
  ("your app", "you people") and judges nothing ("terrible", "stupid", "the hell": an angry
  question). Its words are the subject's, so their sentiment is not the customer's mood:
  "What are the symptoms of breast cancer?" scores -0.66 with VADER, "What constitutes an
  unfair practice by a debt collector?" -0.68.

Mild words in a plain question ("it's a bit frustrating that...", "agent" in "real estate
agent", "my manager asked me...") are not signals. The text is NFKC-normalised and lowercased,
contractions without apostrophes are restored ("im", "dont") and a word one edit away from a key
word is read as that word ("speek", "persn", "supervisr"), unless it is itself an English word
(``_NOT_TYPOS``: "managed", "compliant", "writing", ...).

Cost is linear in the message length: patterns are compiled once, every gap is bounded
(``{0,n}``), nothing nests an unbounded repetition, words are corrected only up to 24 letters,
and at most :data:`MAX_SIGNAL_CHARS` characters are read.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from core.assistant import signal_patterns as patterns

MAX_SIGNAL_CHARS = 20_000
"""Only this many characters are read (the API refuses questions far shorter)."""


@dataclass(frozen=True, slots=True)
class MessageSignals:
    """The handoff signals of one message (see the module docstring for each)."""

    person_requested: bool = False
    escalation: bool = False
    complaint: bool = False
    repeated_contact: bool = False
    frustration: bool = False
    exasperation: bool = False
    intensity: int = 0
    subject_question: bool = False


_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u00b4": "'", "`": "'"})
_WITH = re.compile(r"\bw/")
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[a-z]+")
_CONTRACTIONS = {
    "im": "i'm", "ive": "i've", "id": "i'd", "dont": "don't", "doesnt": "doesn't",
    "didnt": "didn't", "isnt": "isn't", "wasnt": "wasn't", "havent": "haven't",
    "hasnt": "hasn't", "cant": "can't", "wont": "won't", "youll": "you'll", "thats": "that's",
    "u": "you", "ur": "your", "pls": "please", "plz": "please",
}
# The key words a typo is corrected to (five letters or more: shorter words have too many
# neighbours), and the English words one edit away from one of them, which are left alone.
_KEY_WORDS = frozenset(
    """representative supervisor someone somebody anyone anybody person people manager operator
    advisor adviser customer service complaint complain unacceptable ridiculous disgusted
    disgusting disgraceful outrageous appalling appalled pathetic ombudsman regulator lawyer
    attorney solicitor chargeback account subscription contacted waiting explained emailed
    messaged already nobody escalate frustrated furious disappointed human agent speak cancel
    cancelled cancelling""".split()
)
# Every word of a 22k-word English vocabulary (the BERT WordPiece vocabulary's whole words) that
# is one edit away from a key word, found once when the list was written, plus a few more.
_NOT_TYPOS = frozenset(
    """accounts advise advised advises advisers advisors advisory agents argent attorneys
    awaiting canceled cancer chancel complaints compliant contracted curious customers escalated
    humane humans hunan lawyers layer manage managed managers manages message messages
    operators peak pearson peoples persona persons regulators regulatory representatives sawyer
    serviced services sneak speaks spear steak supervisors supervisory wanting wasting writing
    contract contracts""".split()
)
_MAX_WORD = 24


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


_BY_DELETION: dict[str, set[str]] = {}
for _key in _KEY_WORDS:
    for _variant in _deletions(_key):
        _BY_DELETION.setdefault(_variant, set()).add(_key)


def _one_edit(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by one insertion, deletion, substitution or swap."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return a == b
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        first, second = diff[0], diff[-1]
        return len(diff) == 2 and second == first + 1 and (a[first], a[second]) == (
            b[second], b[first])
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long[i]:
        i += 1
    return short[i:] == long[i + 1 :]


def _correct(match: re.Match[str]) -> str:
    word = match.group(0)
    if word in _CONTRACTIONS:
        return _CONTRACTIONS[word]
    if len(word) < 4 or len(word) > _MAX_WORD or word in _KEY_WORDS or word in _NOT_TYPOS:
        return word
    return _closest_key_word(word)


# Customers reuse a small vocabulary: a word's correction (about a hundred dictionary probes)
# is computed once. Bounded: at most 65,536 words of at most _MAX_WORD letters (a few MiB),
# so a stream of invented words cannot grow it.
@functools.lru_cache(maxsize=65536)
def _closest_key_word(word: str) -> str:
    candidates = set(_BY_DELETION.get(word, ()))  # one letter missing
    for variant in _deletions(word):  # one letter extra, or one wrong / swapped
        if variant in _KEY_WORDS:
            candidates.add(variant)
        candidates |= _BY_DELETION.get(variant, set())
    close = sorted(c for c in candidates if _one_edit(word, c))
    return close[0] if close else word


def normalise(text: str) -> str:
    """Lowercased NFKC text with straight quotes, single spaces and typos of key words fixed."""
    text = unicodedata.normalize("NFKC", text[:MAX_SIGNAL_CHARS]).translate(_QUOTES).lower()
    return _WORD.sub(_correct, _SPACES.sub(" ", _WITH.sub("with", text)))


_PUNCTUATION_RUN = re.compile(r"!{2,}|\?{3,}|\?!|!\?")
_HELD_LETTER = re.compile(r"([a-z])\1{3,}")
_SHOUTING_MIN_LETTERS = 8
_SHOUTING_SHARE = 0.7


def _intensity(raw: str, lowered: str) -> int:
    letters = upper = 0
    for char in raw:
        if char.isalpha():
            letters += 1
            upper += char.isupper()
    shouting = upper >= _SHOUTING_MIN_LETTERS and upper >= _SHOUTING_SHARE * letters
    repeated = run = 0
    previous = ""
    for word in _WORD.findall(lowered):
        run = run + 1 if word == previous and len(word) >= 3 else 1
        previous = word
        repeated = max(repeated, run)
    return (
        int(shouting)
        + int(_PUNCTUATION_RUN.search(raw) is not None)
        + int(repeated >= 3)
        + int(_HELD_LETTER.search(lowered) is not None)
    )


# A statement ends at "." or "!" before a space or the end ("Worst. Bank. Ever.", "I'm
# furious. What is the fraud line?"); an abbreviation ("e.g. ") counts too, which only means
# the message's sentiment is read as today's. A match starts only where a run of marks does
# and never gives a mark back: a run followed by a letter is scanned once, not once per mark
# ("!" * 3998 + "a?" took 0.23 s with a plain "[.!]+").
_STATEMENT_END = re.compile(r"(?<![.!])[.!]++(?:\s|$)")
_ABOUT_THE_BUSINESS = re.compile(r"\byour\b|\byou (?:guys|people|lot)\b")


def _asks_about_a_subject(lowered: str) -> bool:
    text = lowered.rstrip()
    return (
        text.endswith("?")
        and _STATEMENT_END.search(text) is None
        and _ABOUT_THE_BUSINESS.search(text) is None
        and patterns.MOOD_WORDS.search(text) is None
    )


def read_signals(text: str) -> MessageSignals:
    """The handoff signals of one customer message (linear in its length)."""
    raw = text[:MAX_SIGNAL_CHARS]
    lowered = normalise(raw)
    return MessageSignals(
        person_requested=patterns.PERSON_REQUEST.search(lowered) is not None,
        escalation=patterns.ESCALATION.search(lowered) is not None,
        complaint=patterns.COMPLAINT.search(lowered) is not None,
        repeated_contact=patterns.REPEATED_CONTACT.search(lowered) is not None,
        frustration=patterns.FRUSTRATION.search(lowered) is not None,
        exasperation=patterns.EXASPERATION.search(lowered) is not None,
        intensity=_intensity(raw, lowered),
        subject_question=_asks_about_a_subject(lowered),
    )


__all__ = ["MAX_SIGNAL_CHARS", "MessageSignals", "normalise", "read_signals"]
