"""Run an exported encoder with ONNX Runtime: tokenise, feed, return the output tensor."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.onnx_backend.export import require_onnxruntime


class OnnxRunner:
    """One ONNX Runtime session and its tokenizer.

    Thread-safe: the tokenizer is used under a lock (the fast tokenizer is not safe to share
    across threads); ``InferenceSession.run`` is safe to call concurrently.

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
        from transformers import AutoTokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # No busy-waiting between runs: the server runs two sessions (embedder, classifier) and
        # Python on the same cores, and spinning workers would take CPU from both.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.onnx_path = Path(onnx_path)
        self._session = ort.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self._input_names = [node.name for node in self._session.get_inputs()]
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        self.max_length = max_length
        self._lock = threading.Lock()

    def run(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The graph's output for ``texts`` and the attention mask (both batch-first)."""
        with self._lock:
            batch = self.tokenizer(
                list(texts),
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="np",
            )
        feeds: dict[str, Any] = {}
        for name in self._input_names:
            values = batch.get(name)
            if values is None:  # a tokenizer without segment ids: all zeros
                values = np.zeros_like(batch["input_ids"])
            feeds[name] = values.astype(np.int64)
        (output,) = self._session.run(None, feeds)
        return output, batch["attention_mask"]


def mean_pool(hidden: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """The attention-masked mean of the token vectors (sentence-transformers' mean pooling)."""
    mask = attention_mask[..., None].astype(hidden.dtype)
    return (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)
