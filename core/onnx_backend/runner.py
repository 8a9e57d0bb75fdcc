"""Run an exported encoder with ONNX Runtime: tokenise, feed, return the output tensor."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.onnx_backend.export import require_onnxruntime

TOKENIZER_FILE = "tokenizer.json"


class OnnxRunner:
    """One ONNX Runtime session and its tokenizer.

    The tokenizer is the model directory's ``tokenizer.json`` read by the ``tokenizers`` library
    itself, not through ``transformers.AutoTokenizer``: the same Rust tokenizer, but importing
    transformers' tokenizer classes imports torch, 3.6 s of a five-second server start.

    Thread-safe: the tokenizer is used under a lock (its truncation and padding settings are
    state shared by every call); ``InferenceSession.run`` is safe to call concurrently.

    Args:
        onnx_path: the exported graph (inputs ``input_ids``, ``attention_mask``,
            ``token_type_ids``; one output).
        tokenizer_dir: the source model directory (its tokenizer files).
        max_length: longer inputs are truncated to this many tokens.
        threads: ONNX Runtime intra-op threads; 0 lets it use every core.
    """

    def __init__(
        self, onnx_path: Path, tokenizer_dir: Path, *, max_length: int, threads: int = 0
    ) -> None:
        ort = require_onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # No busy-waiting between runs: the server runs the session and Python on the same
        # cores, and spinning workers would take CPU from both.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.onnx_path = Path(onnx_path)
        self._session = ort.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self._input_names = [node.name for node in self._session.get_inputs()]
        self._tokenizer = load_tokenizer(Path(tokenizer_dir))
        self._pad_token = pad_token(Path(tokenizer_dir), self._tokenizer)
        found = self._tokenizer.token_to_id(self._pad_token)
        self._pad_id = 0 if found is None else int(found)
        self.max_length = max_length
        self._lock = threading.Lock()

    def run(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The graph's output for ``texts`` and the attention mask (both batch-first)."""
        ids, mask, segments = self.encode(texts)
        columns = {"input_ids": ids, "attention_mask": mask, "token_type_ids": segments}
        feeds: dict[str, Any] = {name: columns[name] for name in self._input_names}
        (output,) = self._session.run(None, feeds)
        return output, mask

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(input_ids, attention_mask, token_type_ids)``, int64, padded to the longest text
        of the batch and truncated to ``max_length`` tokens (special tokens included)."""
        with self._lock:
            self._tokenizer.enable_truncation(self.max_length)
            self._tokenizer.enable_padding(pad_id=self._pad_id, pad_token=self._pad_token)
            encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        segments = np.array([e.type_ids for e in encodings], dtype=np.int64)
        return ids, mask, segments

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text as :meth:`run` feeds it (special tokens, truncation, no padding)."""
        with self._lock:
            self._tokenizer.enable_truncation(self.max_length)
            self._tokenizer.no_padding()
            encodings = self._tokenizer.encode_batch(list(texts))
        return [len(e.ids) for e in encodings]

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character ``(start, end)`` of each token of ``text``: no special tokens, no
        truncation (long documents are chunked by the caller)."""
        with self._lock:
            self._tokenizer.no_truncation()
            self._tokenizer.no_padding()
            encoding = self._tokenizer.encode(text, add_special_tokens=False)
        return [(int(start), int(end)) for start, end in encoding.offsets]


def load_tokenizer(model_dir: Path) -> Any:
    """The model's fast tokenizer as a ``tokenizers.Tokenizer``.

    From ``tokenizer.json`` when the directory has one (every model ``save_pretrained`` wrote
    with a fast tokenizer, the bundled embedder's included); otherwise converted once by
    transformers, which is slower to import but reads any tokenizer it knows.
    """
    from tokenizers import Tokenizer

    path = model_dir / TOKENIZER_FILE
    if path.is_file():
        tokenizer = Tokenizer.from_file(str(path))
    else:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_dir, use_fast=True).backend_tokenizer
    return tokenizer


def pad_token(model_dir: Path, tokenizer: Any) -> str:
    """The padding token transformers would use: ``tokenizer_config.json``'s, else the one
    the tokenizer's own padding settings name, else BERT's ``[PAD]``."""
    config = model_dir / "tokenizer_config.json"
    if config.is_file():
        token = json.loads(config.read_text(encoding="utf-8")).get("pad_token")
        if isinstance(token, dict):  # AddedToken form: {"content": "[PAD]", ...}
            token = token.get("content")
        if isinstance(token, str) and token:
            return token
    padding = tokenizer.padding
    if padding and padding.get("pad_token"):
        return str(padding["pad_token"])
    return "[PAD]"


def mean_pool(hidden: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """The attention-masked mean of the token vectors (sentence-transformers' mean pooling)."""
    mask = attention_mask[..., None].astype(hidden.dtype)
    return (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)
