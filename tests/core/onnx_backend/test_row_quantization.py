"""Per-row activation quantisation: a row's result depends on that row alone, and is closer to
fp32 than one range for the whole batch (small graphs, so no model export is needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnxruntime.quantization import QuantType, quantize_dynamic  # noqa: E402

from core.onnx_backend.export import int8_needs_7bit_weights  # noqa: E402
from core.onnx_backend.row_quantization import (  # noqa: E402
    RowQuantizationError,
    quantize_activations_per_row,
)

HIDDEN, OUT = 48, 24


def two_layer_graph(path: Path, seed: int = 0) -> Path:
    """x [batch, tokens, HIDDEN] -> MatMul -> Gelu -> MatMul, plus a second MatMul reading x
    (one quantised input feeding two products, as Q, K and V do in an encoder)."""
    rng = np.random.default_rng(seed)
    first = numpy_helper.from_array(rng.normal(0, 0.2, (HIDDEN, HIDDEN)).astype(np.float32), "w1")
    second = numpy_helper.from_array(rng.normal(0, 0.2, (HIDDEN, OUT)).astype(np.float32), "w2")
    side = numpy_helper.from_array(rng.normal(0, 0.2, (HIDDEN, OUT)).astype(np.float32), "w3")
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"]),
        helper.make_node("Gelu", ["h"], ["g"]),
        helper.make_node("MatMul", ["g", "w2"], ["a"]),
        helper.make_node("MatMul", ["x", "w3"], ["b"]),
        helper.make_node("Add", ["a", "b"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "two_layers",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "tokens", HIDDEN])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "tokens", OUT])],
        [first, second, side],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    onnx.save(model, str(path))
    return path


def session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("row-quant")
    fp32 = two_layer_graph(folder / "fp32.onnx")
    per_batch = folder / "int8.onnx"
    # As the export does: 7-bit weights where this CPU's int8 products saturate (without
    # them, per-row codes fill the uint8 range and the error here is 0.07 on an AVX2 EPYC).
    quantize_dynamic(str(fp32), str(per_batch), weight_type=QuantType.QInt8, per_channel=True,
                     reduce_range=int8_needs_7bit_weights())
    per_row = folder / "int8-rows.onnx"
    model = quantize_activations_per_row(onnx.load(str(per_batch)))
    onnx.checker.check_model(model)
    onnx.save(model, str(per_row))
    return {"fp32": fp32, "per_batch": per_batch, "per_row": per_row}


def run(path: Path, x: np.ndarray) -> np.ndarray:
    (y,) = session(path).run(None, {"x": x})
    return np.asarray(y)


def test_the_rewrite_replaces_every_dynamic_quantisation(graphs: dict[str, Path]) -> None:
    ops = [node.op_type for node in onnx.load(str(graphs["per_row"])).graph.node]
    assert "DynamicQuantizeLinear" not in ops
    assert ops.count("MatMulInteger") == 3 and ops.count("QuantizeLinear") == 2


def test_a_row_does_not_depend_on_its_batch_mates(graphs: dict[str, Path]) -> None:
    rng = np.random.default_rng(1)
    row = rng.normal(0, 1, (1, 3, HIDDEN)).astype(np.float32)
    loud = rng.normal(0, 40, (1, 3, HIDDEN)).astype(np.float32)  # a batch-mate with outliers
    batch = np.concatenate([row, loud])
    alone = run(graphs["per_row"], row)
    assert np.array_equal(run(graphs["per_row"], batch)[:1], alone)
    # One range per batch: the loud companion coarsens the quiet row's codes.
    moved = np.abs(run(graphs["per_batch"], batch)[:1] - run(graphs["per_batch"], row)).max()
    assert moved > 0.05 * np.abs(alone).max()


def test_per_row_is_closer_to_fp32_than_per_batch(graphs: dict[str, Path]) -> None:
    rng = np.random.default_rng(2)
    # Rows of very different magnitudes, as tokens of real text are.
    x = (rng.normal(0, 1, (4, 6, HIDDEN)) * rng.uniform(0.05, 8, (4, 6, 1))).astype(np.float32)
    exact = run(graphs["fp32"], x)

    def error(name: str) -> np.ndarray:
        """Each row's error relative to its own size: a quiet token matters as much."""
        difference = np.linalg.norm(run(graphs[name], x) - exact, axis=-1)
        return np.asarray(difference / np.linalg.norm(exact, axis=-1))

    assert error("per_row").mean() < error("per_batch").mean() / 3
    assert error("per_row").max() < 0.05


def test_a_row_of_zeros_stays_zero(graphs: dict[str, Path]) -> None:
    x = np.zeros((2, 2, HIDDEN), dtype=np.float32)
    x[1] = 1.0
    y = run(graphs["per_row"], x)
    assert np.isfinite(y).all()
    assert np.allclose(y[0], run(graphs["fp32"], x)[0], atol=1e-6)


def test_asymmetric_weights_are_refused(graphs: dict[str, Path]) -> None:
    model = onnx.load(str(graphs["per_batch"]))
    matmul = next(n for n in model.graph.node if n.op_type == "MatMulInteger")
    for tensor in model.graph.initializer:
        if tensor.name == matmul.input[3]:
            values = numpy_helper.to_array(tensor).copy()
            values[...] = 3
            tensor.CopyFrom(numpy_helper.from_array(values, tensor.name))
    with pytest.raises(RowQuantizationError, match="not symmetric"):
        quantize_activations_per_row(model)


def test_a_quantised_activation_read_by_another_operator_is_refused(
    graphs: dict[str, Path],
) -> None:
    model = onnx.load(str(graphs["per_batch"]))
    quantise = next(n for n in model.graph.node if n.op_type == "DynamicQuantizeLinear")
    model.graph.node.append(helper.make_node("Identity", [quantise.output[2]], ["stray"]))
    with pytest.raises(RowQuantizationError, match="only MatMulInteger"):
        quantize_activations_per_row(model)


def test_quantised_weights_that_are_not_a_constant_are_refused(graphs: dict[str, Path]) -> None:
    model = onnx.load(str(graphs["per_batch"]))
    matmul = next(n for n in model.graph.node if n.op_type == "MatMulInteger")
    kept = [t for t in model.graph.initializer if t.name != matmul.input[1]]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    with pytest.raises(RowQuantizationError, match="not a constant"):
        quantize_activations_per_row(model)
