"""Units and element sizes. GB is 10^9 bytes everywhere; GiB says so in its name."""

from __future__ import annotations

from typing import Final

GB: Final = 1e9
GIB: Final = 2.0**30
TERA: Final = 1e12

# Bytes per element of each numeric format.
BYTES_PER_ELEMENT: Final[dict[str, float]] = {
    "fp64": 8.0,
    "fp32": 4.0,
    "tf32": 4.0,  # stored as fp32; only the tensor-core math is reduced
    "bf16": 2.0,
    "fp16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "int4": 0.5,
    "nf4": 0.5,
    "fp4": 0.5,
}


def bytes_per_element(dtype: str) -> float:
    """Bytes one element of `dtype` occupies."""
    return BYTES_PER_ELEMENT[dtype]
