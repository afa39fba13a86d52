"""What XLA actually compiled: the GEMM (or fused attention) kernels in an optimized HLO module
and the element types of their operands, so a probe can say what it measured.

A dtype's matmul is "verified" when the compiled module holds a GEMM whose operands have that
element type: on NVIDIA and AMD GPUs a custom call to cuBLAS/cuBLASLt (hipBLAS/hipBLASLt on ROCm
under the same target names: `__cublas$gemm`, `__cublas$lt$matmul`, `__cublas$lt$matmul$f8`),
on CPUs a `dot` instruction (possibly inside a fusion). A backend that converts the operands
first (XLA:CPU turns bf16 and fp16 into f32 before its dot) is reported as what it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GEMM_TARGETS = ("__cublas$lt$matmul$f8", "__cublas$lt$matmul", "__cublas$gemm")
CUDNN_ATTENTION_PREFIX = "__cudnn$fmha"
# HLO element types per probe dtype (tf32 is f32 storage with a TF32 algorithm).
HLO_TYPES = {
    "fp32": "f32",
    "tf32": "f32",
    "bf16": "bf16",
    "fp16": "f16",
    "fp8": "f8e4m3fn",
}

_DEFINITION = re.compile(r"%([\w.\-]+) = \(?(\w+)\[")
_PARAMETER = re.compile(r"([\w.\-]+): (\w+)\[")
_TARGET = re.compile(r'custom_call_target="([^"]+)"')


@dataclass(frozen=True)
class Gemm:
    """One GEMM instruction: what it is (a custom-call target or "dot") and its operand types."""

    kernel: str
    operand_types: tuple[str, ...]
    line: str


def _types(hlo: str) -> dict[str, str]:
    """Instruction and parameter name -> element type, over the whole module."""
    types: dict[str, str] = {}
    for line in hlo.splitlines():
        stripped = line.strip()
        if stripped.endswith("{") and "(" in stripped and "->" in stripped:
            header = stripped[stripped.index("(") : stripped.rindex("->")]
            types.update(dict(_PARAMETER.findall(header)))
        found = _DEFINITION.search(stripped)
        if found:
            types[found.group(1)] = found.group(2)
    return types


def _operands(line: str, opcode: str) -> list[str]:
    start = line.find(opcode + "(")
    if start < 0:
        return []
    depth, end = 0, start + len(opcode)
    for index in range(end, len(line)):
        if line[index] == "(":
            depth += 1
        elif line[index] == ")":
            depth -= 1
            if depth == 0:
                end = index
                break
    return re.findall(r"%([\w.\-]+)", line[start + len(opcode) + 1 : end])


def gemms(hlo: str) -> list[Gemm]:
    """Every GEMM in an optimized HLO module's text (`Compiled.as_text()`)."""
    types = _types(hlo)
    found = []
    for raw in hlo.splitlines():
        line = raw.strip()
        target = _TARGET.search(line)
        if target and target.group(1) in GEMM_TARGETS:
            names = _operands(line, "custom-call")
            found.append(Gemm(target.group(1), tuple(types.get(n, "?") for n in names[:2]), line))
        elif re.search(r"\bdot\(", line):
            names = _operands(line, "dot")
            found.append(Gemm("dot", tuple(types.get(n, "?") for n in names[:2]), line))
    return found


@dataclass(frozen=True)
class GemmCheck:
    """Whether the intended GEMM was compiled, and what was."""

    verified: bool
    kernel: str | None
    operand_type: str | None
    reason: str

    def as_fields(self) -> dict[str, object]:
        return {
            "gemm_verified": self.verified,
            "gemm_kernel": self.kernel,
            "gemm_operand_type": self.operand_type,
            "gemm_check": self.reason,
        }


def check_gemm(hlo: str, dtype: str, platform: str) -> GemmCheck:
    """Did XLA compile a `dtype` GEMM for `platform` ("cuda", "rocm", "cpu", ...)?

    GPUs: a cuBLAS/cuBLASLt custom call with `dtype`'s operand type (fp8: the `$f8` target; tf32:
    the TF32 algorithm named in the call's configuration). CPUs: a dot with that operand type.
    """
    want = HLO_TYPES[dtype]
    found = gemms(hlo)
    if not found:
        return GemmCheck(False, None, None, "no GEMM in the compiled module")
    gpu = platform in ("cuda", "rocm", "gpu")
    library = [g for g in found if g.kernel != "dot"]
    candidates = library if gpu else found
    if not candidates:
        return GemmCheck(
            False, found[0].kernel, found[0].operand_types[0] if found[0].operand_types else None,
            "no cuBLAS/cuBLASLt GEMM: XLA emitted its own dot kernel",
        )  # fmt: skip
    gemm = next((g for g in candidates if g.operand_types[:1] == (want,)), candidates[0])
    operand = gemm.operand_types[0] if gemm.operand_types else None
    if operand != want:
        return GemmCheck(
            False, gemm.kernel, operand,
            f"the GEMM's operands are {operand}, not {want} (converted before the product)",
        )  # fmt: skip
    if gpu and dtype == "fp8" and not gemm.kernel.endswith("$f8"):
        return GemmCheck(False, gemm.kernel, operand, "fp8 operands but not the cuBLASLt FP8 GEMM")
    if gpu and dtype == "tf32" and "tf32" not in gemm.line.lower():
        return GemmCheck(False, gemm.kernel, operand, "f32 GEMM without the TF32 algorithm")
    if gpu and dtype == "fp32" and "tf32" in gemm.line.lower():
        return GemmCheck(False, gemm.kernel, operand, "fp32 requested but TF32 was compiled")
    return GemmCheck(True, gemm.kernel, operand, f"{gemm.kernel} on {operand} operands")


def attention_kernel(hlo: str) -> str | None:
    """The cuDNN fused attention custom-call target in the module, if there is one."""
    for target in _TARGET.findall(hlo):
        if str(target).startswith(CUDNN_ATTENTION_PREFIX):
            return str(target)
    return None
