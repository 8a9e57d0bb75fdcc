"""Export a transformers model to ONNX once, cache it, and optionally quantise it to int8.

The cache key is a hash of the source directory's weights and config plus the export recipe,
so a retrained intent model gets a new export and an unchanged one is never re-exported.
Exports are written to a temporary sibling and renamed into place, so a crash leaves no half
file that a later start would load. Exporting and quantising run in a child process: tracing
with torch takes about a gigabyte that the caller (``packdesk prepare``, a server's first start)
would otherwise keep to its end, and the caller never imports torch at all.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.onnx_backend.row_quantization import quantize_activations_per_row

logger = logging.getLogger("packdesk.onnx")

BACKENDS = ("torch", "onnx", "onnx-int8")
# Part of the cache key: change it when the export or quantisation changes, and cached files
# are redone instead of reused.
EXPORT_RECIPE = "dynamo-v1/int8-dynamic-per-channel/activations-per-row"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
INT8_7BIT_FILE = "model.int8-7bit-weights.onnx"
X86_MACHINES = frozenset({"x86_64", "amd64", "i386", "i686", "x86"})
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni"})
_HASHED_FILES = ("config.json", "model.safetensors", "pytorch_model.bin")
MEMO_FILE = "file-hashes.json"


def backend_problem(backend: str, onnx_cache: Path | None) -> str | None:
    """Why ``backend`` with ``onnx_cache`` cannot work (callers raise their own error type),
    or None."""
    if backend not in BACKENDS:
        return f"unknown inference backend {backend!r}; expected one of {', '.join(BACKENDS)}"
    if backend != "torch" and onnx_cache is None:
        return f"the {backend} backend needs an onnx_cache directory for its exports"
    return None


def require_onnxruntime() -> Any:
    """The ``onnxruntime`` module, or a ConfigError that says how to get it."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise ConfigError(
            "the ONNX inference backend needs onnxruntime, onnx and onnxscript: "
            "pip install 'packdesk[onnx]' (make install includes them), or set "
            "PACKDESK_INFERENCE_BACKEND=torch"
        ) from exc
    return onnxruntime


def onnx_model(
    source_dir: Path,
    *,
    output: str,
    load_model: Callable[[], Any],
    cache_root: Path,
    quantized: bool = False,
) -> Path:
    """The ONNX file for the model in ``source_dir``, exported (and quantised) if not cached.

    Args:
        source_dir: the transformers model directory (its weights are hashed for the cache key).
        output: the model output the graph returns (``last_hidden_state`` or ``logits``).
        load_model: builds the torch module from ``source_dir``; called only to export, in a
            child process, so it must pickle (a module-level function, or a
            ``functools.partial`` of one).
        cache_root: where exports live, one folder per source and recipe.
        quantized: int8 weights, activations quantised per token on the fly
            (``model.int8.onnx``; ``model.int8-7bit-weights.onnx`` on x86 CPUs without VNNI,
            :func:`int8_needs_7bit_weights`).
    """
    require_onnxruntime()
    source_dir = Path(source_dir)
    key = _fingerprint(source_dir, output, cache_root)
    folder = Path(cache_root) / f"{source_dir.name}-{output}-{key[:16]}"
    fp32 = folder / FP32_FILE
    if not fp32.is_file():
        logger.info("exporting %s (%s) to ONNX: %s", source_dir, output, fp32)
        _atomic_write(fp32, lambda tmp: _in_child(_export_loaded, load_model, output, tmp))
    if not quantized:
        return fp32
    reduce_range = int8_needs_7bit_weights()
    int8 = folder / (INT8_7BIT_FILE if reduce_range else INT8_FILE)
    if not int8.is_file():
        logger.info("quantising %s to int8%s", fp32, " (7-bit weights)" if reduce_range else "")
        _atomic_write(int8, lambda tmp: _in_child(_quantize, fp32, tmp, reduce_range))
    return int8


def int8_needs_7bit_weights(
    machine: str | None = None, cpuinfo: Path = Path("/proc/cpuinfo")
) -> bool:
    """Whether this CPU's int8 products saturate unless the weights use 7 bits.

    Without VNNI, ONNX Runtime's x86 kernels multiply uint8 activations by int8 weights with
    ``vpmaddubsw``, which adds each pair of products into a *saturating* int16: 255 x 127 x 2
    overflows it. Activations quantised per token fill the whole uint8 range, so it
    saturates often: on an AVX2 EPYC the int8 vectors' cosine to fp32 fell to a mean of 0.958
    (minimum 0.895) on CLINC150 questions where a VNNI machine gets 0.9985. Weights in
    [-64, 63] cannot overflow (255 x 64 x 2 < 32,768): 0.9970 (minimum 0.988) there. VNNI
    (``vpdpbusd``) adds into int32 and keeps the full 8 bits; other architectures have no such
    instruction. An x86 CPU whose flags cannot be read gets 7 bits: a little precision for
    never saturating.
    """
    machine = (machine if machine is not None else platform.machine()).lower()
    if machine not in X86_MACHINES:
        return False
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return True
    for line in text.splitlines():
        if line.startswith("flags"):
            return not VNNI_FLAGS & set(line.partition(":")[2].split())
    return True


def _fingerprint(source_dir: Path, output: str, cache_root: Path) -> str:
    # torch's version from its metadata: importing torch costs a second at every server start,
    # and the ONNX path does not need it once the export is cached.
    digest = hashlib.sha256(f"{EXPORT_RECIPE}|{_torch_version()}|{output}".encode())
    found = False
    for name in _HASHED_FILES:
        path = source_dir / name
        if path.is_file():
            found = True
            digest.update(name.encode())
            digest.update(_file_sha256(path, cache_root).encode())
    if not found:
        raise ConfigError(f"{source_dir} holds no transformers model (config.json, weights)")
    return digest.hexdigest()


def _torch_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:
        return "none"


def _file_sha256(path: Path, cache_root: Path) -> str:
    """SHA-256 of a weights file, remembered in ``cache_root/file-hashes.json`` under its
    resolved path, size and modification time: hashing 90 MB of weights took 1.7 s of every
    server start; a changed file (new size or mtime) is hashed again."""
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    memo_path = Path(cache_root) / MEMO_FILE
    try:
        memo = json.loads(memo_path.read_text(encoding="utf-8"))
        if not isinstance(memo, dict):
            memo = {}
    except (OSError, ValueError):
        memo = {}
    known = memo.get(key)
    if isinstance(known, str) and len(known) == 64:
        return known
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    memo[key] = digest.hexdigest()
    try:  # a memo that cannot be written costs time at the next start, never correctness
        _atomic_write(memo_path, lambda tmp: _write_text(tmp, json.dumps(memo, indent=1)))
    except OSError as exc:
        logger.warning("cannot remember the hash of %s in %s: %s", path, memo_path, exc)
    return memo[key]


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _atomic_write(target: Path, write: Callable[[Path], None]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        write(staging / target.name)
        os.replace(staging / target.name, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _in_child(job: Callable[..., None], *args: Any) -> None:
    """Run ``job(*args)`` in a fresh (spawned) interpreter and wait for it; its exception is
    raised here, and a child that dies (out of memory) is a ConfigError."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        try:
            pool.submit(job, *args).result()
        except BrokenProcessPool as exc:
            raise ConfigError(
                f"the ONNX export process died ({job.__name__}); is the machine out of memory?"
            ) from exc


def _export_loaded(load_model: Callable[[], Any], output: str, path: Path) -> None:
    _export(load_model(), output, path)


def _export(model: Any, output: str, path: Path) -> None:
    import torch

    class _Graph(torch.nn.Module):
        """The three tokenizer tensors in, one named output tensor out."""

        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            result = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return getattr(result, output)

    model = model.eval().to("cpu")
    # Two rows of different lengths, so padding is exercised while tracing.
    example = (
        torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]]),
        torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]]),
        torch.zeros((2, 4), dtype=torch.long),
    )
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    with torch.no_grad():
        program = torch.onnx.export(
            _Graph(model).eval(),
            example,
            input_names=list(INPUT_NAMES),
            output_names=[output],
            dynamic_shapes={name: {0: batch, 1: sequence} for name in INPUT_NAMES},
            dynamo=True,
            verbose=False,
        )
    program.save(str(path))  # type: ignore[union-attr]


def _quantize(fp32: Path, path: Path, reduce_range: bool = False) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Weights of MatMul/Gemm to int8, activations quantised on the fly: the usual recipe for
    # transformer encoders on CPU. Per output channel: one scale per tensor cost the bundled
    # embedder up to 0.07 in cosine to the fp32 vectors on short texts, per channel 0.02.
    # It logs a root-logger warning suggesting shape pre-processing, which only matters for
    # static quantisation; keep it out of the operator's console.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8, per_channel=True,
                         reduce_range=reduce_range)
    finally:
        root.setLevel(level)
    # Its activations are quantised with one range per batch; one per token instead makes a
    # text's vector independent of its batch-mates, and closer to fp32 (row_quantization.py).
    import onnx

    model = quantize_activations_per_row(onnx.load(str(path)))
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
