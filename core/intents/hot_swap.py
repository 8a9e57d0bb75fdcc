"""Hot swap: the serving classifier behind one reference that a new version replaces at once.

Every call reads the reference once and runs to its end on the model it read, so a request in
flight finishes on the old model while the next one already gets the new one; nothing waits for
the swap and nothing is unloaded under a running forward pass (the old model is freed when its
last caller returns). Assigning one attribute is atomic in Python; the lock only orders swaps.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class ServingClassifier(Protocol):
    """What the assistant calls (core.intents.classifier.IntentClassifier has it)."""

    def predict(self, texts: Sequence[str], top_k: int = 3) -> list[Any]: ...

    def predict_vector(self, vector: Any, top_k: int = 3) -> Any | None: ...


@dataclass(frozen=True)
class ServingModel:
    """A warm classifier and the version it was loaded from (None: not a registered version)."""

    classifier: ServingClassifier
    version_id: str | None


class SwappableClassifier:
    """A classifier whose model can be replaced while requests are being answered."""

    def __init__(self, classifier: ServingClassifier, version_id: str | None = None) -> None:
        self._serving = ServingModel(classifier, version_id)
        self._swap_lock = threading.Lock()
        self.swaps = 0

    @property
    def serving(self) -> ServingModel:
        return self._serving

    @property
    def version_id(self) -> str | None:
        return self._serving.version_id

    @property
    def classifier(self) -> ServingClassifier:
        return self._serving.classifier

    @property
    def labels(self) -> list[str]:
        return list(getattr(self._serving.classifier, "labels", []))

    @property
    def threshold(self) -> float:
        return float(getattr(self._serving.classifier, "threshold", 0.0))

    def predict(self, texts: Sequence[str], top_k: int = 3) -> list[Any]:
        """Classify with the model serving now; a swap during the call does not affect it."""
        serving = self._serving  # read once: this call stays on this model
        return serving.classifier.predict(texts, top_k=top_k)

    def predict_vector(self, vector: Any, top_k: int = 3) -> Any | None:
        """One question's prediction from its query vector when the model serving now is an
        intent head, else None (the caller classifies the text); one read of the reference, so
        a swap to a text model in between cannot make a head call fail."""
        serving = self._serving
        return serving.classifier.predict_vector(vector, top_k=top_k)

    @property
    def reads_query_vector(self) -> bool:
        """Whether the model serving now classifies query vectors (a head)."""
        return bool(getattr(self._serving.classifier, "reads_query_vector", False))

    def swap(self, classifier: ServingClassifier, version_id: str | None) -> ServingModel:
        """Serve ``classifier`` (already warm) from the next call on; returns the old model."""
        with self._swap_lock:
            old, self._serving = self._serving, ServingModel(classifier, version_id)
            self.swaps += 1
        return old
