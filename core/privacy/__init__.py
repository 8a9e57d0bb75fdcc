"""Privacy: redaction of personal data, sentiment, human handoff, encryption at rest.

Cheap to import: ``phonenumbers`` metadata and the VADER lexicon load on first use.
"""

from core.privacy.crypto import TextCipher, generate_key, load_conversation_cipher
from core.privacy.handoff import Handoff, HandoffPolicy, TurnSignal
from core.privacy.redaction import Finding, RedactionResult, Redactor
from core.privacy.sentiment import Sentiment, score_sentiment

__all__ = [
    "Finding",
    "Handoff",
    "HandoffPolicy",
    "RedactionResult",
    "Redactor",
    "Sentiment",
    "TextCipher",
    "TurnSignal",
    "generate_key",
    "load_conversation_cipher",
    "score_sentiment",
]
