"""Which CPUs get 7-bit int8 weights (core.onnx_backend.export.int8_needs_7bit_weights)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.onnx_backend.export import int8_needs_7bit_weights

AVX2_EPYC = "processor\t: 0\nflags\t\t: fpu sse4_2 avx fma avx2 bmi2\n"
VNNI_EPYC = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512bw avx512_vnni\n"
ALDER_LAKE = "processor\t: 0\nflags\t\t: fpu avx2 avx_vnni\n"


def _cpuinfo(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("machine", "text", "expected"),
    [
        ("x86_64", AVX2_EPYC, True),  # vpmaddubsw saturates: 7-bit weights
        ("x86_64", VNNI_EPYC, False),  # vpdpbusd adds into int32
        ("AMD64", ALDER_LAKE, False),  # AVX-VNNI counts too
        ("x86_64", "processor\t: 0\n", True),  # no flags line: the safe choice
        ("aarch64", AVX2_EPYC, False),  # not x86: no such instruction
    ],
)
def test_seven_bit_weights_only_where_products_saturate(
    tmp_path: Path, machine: str, text: str, expected: bool
) -> None:
    assert int8_needs_7bit_weights(machine, _cpuinfo(tmp_path, text)) is expected


def test_an_unreadable_cpuinfo_on_x86_gets_seven_bits(tmp_path: Path) -> None:
    assert int8_needs_7bit_weights("x86_64", tmp_path / "missing") is True
    assert int8_needs_7bit_weights("arm64", tmp_path / "missing") is False
