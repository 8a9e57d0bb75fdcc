"""The optional ONNX Runtime inference path for the two transformer models on ``/v1/ask``.

``PACKDESK_INFERENCE_BACKEND=onnx`` (or ``onnx-int8``, with int8 dynamic quantisation) runs the
query embedder and the intent classifier through ONNX Runtime instead of torch. The ONNX graphs
are exported from the very same weights (torch's dynamo exporter) on first use and cached under
``<data_dir>/models/onnx``, keyed by a hash of the weights, so a retrained model is re-exported.
Needs the ``onnx`` extra (``pip install 'packdesk[onnx]'``; ``make install`` includes it).
Quality and speed next to torch: BENCHMARKS.md ("ONNX Runtime"), ``bench/onnx_backend.py``.
"""

from core.onnx_backend.export import BACKENDS, onnx_model
from core.onnx_backend.runner import OnnxRunner

__all__ = ["BACKENDS", "OnnxRunner", "onnx_model"]
