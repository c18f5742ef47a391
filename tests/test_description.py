"""model.json's tensor description against the model file's: the rule deploy, bench and the app (its Kotlin mirror in
core/ModelDescription.kt, tested in AppLogicTest) use before trusting a folder."""

from __future__ import annotations

from mobikit.description import TensorSpec

REAL = TensorSpec("int8", (1, 96, 96, 3), 0.0078125, 0)


def test_matching_scales_printed_with_more_digits_agree():
    assert REAL.difference(TensorSpec("int8", (1, 96, 96, 3), float(0.0078125) * (1 + 1e-8), 0)) is None


def test_a_zero_scale_does_not_hide_a_quantized_tensor():
    claims_unquantized = TensorSpec("int8", (1, 96, 96, 3), 0.0, 0)
    assert "quantization" in claims_unquantized.difference(REAL)
    assert "quantization" in REAL.difference(claims_unquantized)


def test_unquantized_integer_tensors_on_both_sides_agree():
    assert TensorSpec("int32", (1, 10), 0.0, 0).difference(TensorSpec("int32", (1, 10), 0.0, 0)) is None
