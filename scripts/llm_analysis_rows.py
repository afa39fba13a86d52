#!/usr/bin/env python3
"""Run the third-party estimator llm-analysis on rows of our validation set.

Run with the llm-analysis venv's interpreter (created by scripts/llm_analysis_venv.sh):

    scripts/llm_analysis_venv.sh
    .venv-llm-analysis/bin/python scripts/llm_analysis_rows.py

It reads tests/data/validation.yaml (and catalog/models.yaml for `model: {preset: ...}` rows)
and writes tests/data/llm_analysis_results.json: one entry per validation row, in file order,
with llm-analysis' predicted training throughput (tokens/s per GPU) and peak memory per GPU, or
null plus the reason. The JSON is committed data: the main test suite reads it and never runs
llm-analysis. Output is deterministic for a given llm-analysis version, inputs and --date (the
date defaults to $SOURCE_DATE_EPOCH's date if set, else today; UTC).

How a row is fed to llm-analysis (version 0.2.2, `llm_analysis.analysis.train`):
- model: our own architecture numbers, written to a JSON model config and passed as
  `model_name=<path.json>` (the documented way to give a custom model). See `model_config()`
  for the field mapping (gated FFNs, tied embeddings and head_dim caveats are explained there).
- gpu: nvidia-h100-sxm -> h100-sxm-80gb, nvidia-a100-sxm4-80gb -> a100-sxm-80gb,
  nvidia-a100-sxm4-40gb -> a100-sxm-40gb (its bundled gpu_configs; PCIe parts map likewise).
- dtype: bf16/fp16 -> w16a16e16; fp8 -> w8a8e16 (its 8-bit GEMM peak, peak_i8_TFLOPS, equals the
  FP8 dense peak on H100, 1979 TFLOP/s, but it also stores weights/activations in 1 byte).
- parallelism: tensor -> tp_size, pipeline -> pp_size, data -> dp_size (sp_size = tp_size, its
  default), zero_stage -> ds_zero (null -> 0). Context parallelism has no counterpart: such rows
  get throughput only (context folded into data parallelism, which leaves llm-analysis' per-GPU
  token rate unchanged) and memory null.
- batch: micro_batch -> batch_size_per_gpu, global_batch -> global_batch_size (it derives the
  gradient accumulation steps). A null micro_batch: throughput only (llm-analysis' per-GPU token
  rate does not depend on the micro batch), memory null.
- activation_checkpointing: none -> 0 (NONE), selective -> 1 (SELECTIVE: Megatron-style,
  recompute the attention core), full -> 2 (FULL); null -> 0 (its default), noted.
- optimizer: its default (Adam: fp32 master weights + two fp32 moments, fp32 gradients); rows
  with another optimizer are skipped.
- efficiency knobs are left at llm-analysis' defaults (flops_efficiency -> FLOPS_EFFICIENCY = 1,
  hbm_memory_efficiency = 1): NOT tuned.

Outputs per row:
- tokens_per_second_per_gpu = global_batch_size * seq_len / (latency_per_iter * total_num_gpus),
  from train()'s own latency_per_iter (llm-analysis models training time as FLOPs / achieved
  TFLOPS, with no communication and no pipeline bubble).
- peak_memory_gb_per_gpu = train()'s "(weight+op_state+grad+act)_memory_per_gpu" / 1e9 (GB).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import math
import os
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
VALIDATION = ROOT / "tests" / "data" / "validation.yaml"
MODELS = ROOT / "catalog" / "models.yaml"
OUTPUT = ROOT / "tests" / "data" / "llm_analysis_results.json"

GPU_MAP = {
    "nvidia-h100-sxm": "h100-sxm-80gb",
    "nvidia-h100-pcie": "h100-pcie-80gb",
    "nvidia-a100-sxm4-80gb": "a100-sxm-80gb",
    "nvidia-a100-sxm4-40gb": "a100-sxm-40gb",
    "nvidia-a100-pcie-80gb": "a100-pcie-80gb",
    "nvidia-a100-pcie-40gb": "a100-pcie-40gb",
}
DTYPE_MAP = {"bf16": "w16a16e16", "fp16": "w16a16e16", "fp8": "w8a8e16"}
AC_MAP = {"none": 0, "selective": 1, "full": 2}
TRAINING_KINDS = {"training_throughput", "training_memory"}
FULL_TRAINING_TASKS = {"pretrain", "finetune"}


class SkipRowError(Exception):
    """The row cannot be run through llm-analysis; the message is the reason."""


def model_config(name: str, arch: dict, seq_len: int) -> tuple[dict, list[str]]:
    """Our architecture -> llm-analysis ModelConfig fields, plus caveat notes.

    llm-analysis 0.2.2's transformer layer is GPT-style: attention params 2h^2 + 2h*h*kv/heads,
    MLP params 2*h*ffn_embed_dim (two matrices), MLP FLOPs hard-coded to 16*b*s*h^2 (i.e. it
    assumes ffn = 4h whatever ffn_embed_dim says), one embedding matrix (it always assumes tied
    input/output embeddings), head_dim = hidden/heads.
    """
    notes = []
    h = arch["hidden_size"]
    heads = arch["heads"]
    ffn = arch["ffn_hidden_size"]
    gated = bool(arch.get("gated_ffn"))
    if arch.get("head_dim") not in (None, h // heads) or h % heads:
        raise SkipRowError(
            f"head_dim {arch.get('head_dim')} != hidden/heads; llm-analysis assumes hidden/heads"
        )
    # A gated (SwiGLU) FFN has three h x ffn matrices; llm-analysis' MLP has two. An equivalent
    # ffn_embed_dim of 1.5 * ffn gives it the right parameter count (weights, gradients,
    # optimizer state) and the right stored MLP activations (3 * ffn per token: gate, up and
    # their product). expansion_ratio is passed explicitly because its ModelConfig asserts
    # ffn_embed_dim % hidden == 0 otherwise (11008 / 4096 is not an integer).
    ffn_equiv = ffn * 3 // 2 if gated else ffn
    if gated:
        notes.append(
            f"gated FFN passed as an equivalent 2-matrix ffn_embed_dim = 1.5 x {ffn} = {ffn_equiv}"
        )
    if ffn_equiv != 4 * h:
        notes.append(
            "llm-analysis' MLP FLOPs are hard-coded to 16*b*s*h^2 (ffn = 4h); this model's MLP is "
            f"{ffn_equiv / (4 * h):.3f}x that, so its throughput estimate is biased by the difference"
        )
    if not arch.get("tied_embeddings", True):
        notes.append(
            "untied embeddings: llm-analysis always counts one (shared) vocab x hidden matrix, so the "
            f"output head's {arch['vocab_size'] * h:,} parameters are missing from its memory"
        )
    cfg = {
        "name": name,
        "num_layers": arch["layers"],
        "n_head": heads,
        "hidden_dim": h,
        "vocab_size": arch["vocab_size"],
        # its train() asserts seq_len <= max_seq_len; MPT rows carry no max_position_embeddings
        "max_seq_len": max(seq_len, arch.get("max_position_embeddings") or 0),
        "num_key_value_heads": arch.get("kv_heads", heads),
        "ffn_embed_dim": ffn_equiv,
        "expansion_ratio": ffn_equiv / h,
        "model_type": arch.get("family"),
        "moe_num_experts": arch.get("experts", 1) or 1,
        "moe_top_k": arch.get("experts_per_token", 1) or 1,
    }
    return cfg, notes


def resolve_arch(row: dict, presets: dict) -> dict:
    model = row["model"]
    if "transformer" in model:
        arch = dict(model["transformer"])
        arch.setdefault("kind", "decoder")  # inline rows in validation.yaml are all decoder LMs
        return arch
    preset = model.get("preset")
    if preset not in presets:
        raise SkipRowError(f"model {model} is not a transformer preset")
    p = presets[preset]
    arch = dict(p["architecture"])
    arch["kind"] = p.get("kind")
    arch["family"] = p.get("family")
    return arch


def plan_row(row: dict, presets: dict) -> dict:
    """Validate a row and build llm-analysis train() kwargs; raises SkipRowError with a reason."""
    if row.get("exclude"):
        raise SkipRowError(f"row excluded in validation.yaml: {row['exclude']}")
    if row["kind"] not in TRAINING_KINDS:
        raise SkipRowError(
            f"{row['kind']} row: only training rows are run through llm-analysis here"
        )
    gpu = row["hardware"]["gpu"]
    if gpu not in GPU_MAP:
        raise SkipRowError(f"GPU {gpu} is outside this comparison (A100/H100 rows only)")
    arch = resolve_arch(row, presets)
    if arch.get("kind") != "decoder":
        raise SkipRowError(
            f"model kind {arch.get('kind')!r}: llm-analysis models decoder LMs only here"
        )
    w = row["workload"]
    if w.get("task") not in FULL_TRAINING_TASKS or w.get("lora"):
        raise SkipRowError(
            f"task {w.get('task')!r}: llm-analysis 0.2.2 does not model LoRA/QLoRA (full training only)"
        )
    if w.get("optimizer") != "adamw":
        raise SkipRowError(
            f"optimizer {w.get('optimizer')!r}: llm-analysis is run with its Adam default only"
        )
    precision = w.get("precision")
    if precision not in DTYPE_MAP:
        raise SkipRowError(f"precision {precision!r} has no llm-analysis dtype config")

    notes: list[str] = []
    memory_ok = True
    par = w.get("parallelism") or {}
    tp, pp = par.get("tensor", 1) or 1, par.get("pipeline", 1) or 1
    dp, cp = par.get("data", 1) or 1, par.get("context", 1) or 1
    if tp * pp * dp * cp != row["hardware"]["count"]:
        raise SkipRowError(
            f"tensor*pipeline*data*context = {tp * pp * dp * cp} != GPU count {row['hardware']['count']}"
        )
    if cp > 1:
        memory_ok = False
        notes.append(
            f"context parallel {cp} folded into dp_size (llm-analysis has no context parallelism; "
            "its per-GPU token rate is unchanged, its memory would hold full-sequence activations, so memory is null)"
        )
    dp_size = dp * cp
    seq_len = w["seq_len"]
    micro = w.get("micro_batch")
    if micro is None:
        micro = 1
        memory_ok = False
        notes.append(
            "micro_batch not stated: throughput computed with micro batch 1 (llm-analysis' per-GPU token rate "
            "does not depend on it); memory is null because it does"
        )
    global_batch = w["global_batch"]
    if global_batch % (micro * dp_size):
        raise SkipRowError(
            f"global_batch {global_batch} not divisible by micro_batch*dp {micro * dp_size}"
        )
    ac = w.get("activation_checkpointing")
    if ac is None:
        notes.append(
            "activation_checkpointing not stated by the source: llm-analysis default 0 (NONE) used"
        )
        ac_level = 0
    else:
        ac_level = AC_MAP[ac]
        if ac == "selective":
            notes.append(
                "selective AC mapped to llm-analysis SELECTIVE (Megatron-style: only the attention core "
                "is recomputed), which may differ from the framework's selective scheme"
            )
    zero = par.get("zero_stage")
    if zero is None:
        notes.append("zero_stage not stated: llm-analysis default 0 (no ZeRO) used")
        zero = 0
    if precision == "fp8":
        notes.append(
            "fp8 mapped to w8a8e16: its 8-bit GEMM peak (peak_i8_TFLOPS) is used for throughput and "
            "weights/activations are counted at 1 byte, which understates memory of FP8 training that "
            "keeps bf16 weights"
        )
    if par.get("virtual_pipeline") or par.get("pipeline_schedule"):
        notes.append(
            "pipeline schedule/virtual stages ignored (llm-analysis models no pipeline bubble)"
        )
    if gpu == "nvidia-h100-sxm" and row["id"].startswith("torchtitan-"):
        # validation.yaml header: torchtitan H100 rows ran on 96 GB HBM2e H100s
        notes.append("96 GB H100 mapped to h100-sxm-80gb (capacity only affects its fit check)")

    cfg, model_notes = model_config(f"gpuadvisor_{row['id']}", arch, seq_len)
    notes.extend(model_notes)
    kwargs = {
        "gpu_name": GPU_MAP[gpu],
        "dtype_name": DTYPE_MAP[precision],
        "batch_size_per_gpu": micro,
        "global_batch_size": global_batch,
        "seq_len": seq_len,
        "activation_recomputation": ac_level,
        "ds_zero": int(zero),
        "dp_size": dp_size,
        "tp_size": tp,
        "pp_size": pp,
        "flash_attn": w.get("flash_attention", True) is not False,
        "mlp_gated_linear_units": bool(arch.get("gated_ffn")),
    }
    return {"model_config": cfg, "kwargs": kwargs, "notes": notes, "memory_ok": memory_ok}


def run_row(plan: dict, tmpdir: Path) -> dict:
    from llm_analysis.analysis import train

    cfg_path = tmpdir / f"{plan['model_config']['name']}.json"
    cfg_path.write_text(json.dumps(plan["model_config"], indent=2))
    # log_level ERROR silences its per-call INFO/WARNING report; efficiency knobs NOT passed.
    return train(model_name=str(cfg_path), log_level="ERROR", **plan["kwargs"])


def outputs(s: dict, memory_ok: bool) -> dict:
    """A few of train()'s raw outputs, kept for inspection (memory ones only when meaningful)."""
    out = {
        "num_params_total": int(s["num_params_total"]),
        "achieved_tflops_per_gpu": s["achieved_flops"],
        "latency_per_iter_s": round(s["latency_per_iter"], 6),
    }
    if memory_ok:
        out.update(
            {
                "max_batch_size_per_gpu": s["max_batch_size_per_gpu"],
                "weight_memory_gb": round(s["weight_memory_per_gpu"] / 1e9, 3),
                "gradient_memory_gb": round(s["gradient_memory_per_gpu"] / 1e9, 3),
                "optimizer_state_memory_gb": round(s["optimizer_state_memory_per_gpu"] / 1e9, 3),
                "activation_memory_gb": round(s["activation_memory_per_gpu"] / 1e9, 3),
                "memory_left_gb": round(s["memory_left_per_gpu"] / 1e9, 3),
            }
        )
    return out


def entry(row_id: str, la_version: str, date: str) -> dict:
    return {
        "id": row_id,
        "tokens_per_second_per_gpu": None,
        "peak_memory_gb_per_gpu": None,
        "status": "skipped",
        "llm_analysis_version": la_version,
        "produced_on": date,
        "settings_used": None,
        "note": None,
    }


def default_date() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = _dt.datetime.fromtimestamp(int(epoch), _dt.UTC) if epoch else _dt.datetime.now(_dt.UTC)
    return moment.date().isoformat()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--output", type=Path, default=OUTPUT)
    ap.add_argument(
        "--date",
        default=default_date(),
        help="production date written into each entry (default: $SOURCE_DATE_EPOCH's date, else today; UTC)",
    )
    args = ap.parse_args()

    t0 = time.perf_counter()
    logging.getLogger().setLevel(logging.ERROR)
    la_version = version("llm-analysis")
    import llm_analysis.analysis as la_analysis

    defaults = {
        "flops_efficiency": la_analysis.FLOPS_EFFICIENCY,
        "hbm_memory_efficiency": la_analysis.HBM_MEMORY_EFFICIENCY,
    }
    rows = yaml.safe_load(VALIDATION.read_text())["measurements"]
    presets = {m["id"]: m for m in yaml.safe_load(MODELS.read_text())["models"]}

    results = []
    with tempfile.TemporaryDirectory() as td:
        for row in rows:
            e = entry(row["id"], la_version, args.date)
            try:
                plan = plan_row(row, presets)
            except SkipRowError as exc:
                e["note"] = str(exc)
                results.append(e)
                continue
            try:
                s = run_row(plan, Path(td))
            except Exception as exc:  # an llm-analysis assertion on this configuration
                e["note"] = f"llm-analysis raised {type(exc).__name__}: {exc}"
                e["settings_used"] = {"model_config": plan["model_config"], **plan["kwargs"]}
                results.append(e)
                continue
            tokens = s["global_batch_size"] * s["seq_len"]
            tps = tokens / (s["latency_per_iter"] * s["total_num_gpus"])
            mem = s["(weight+op_state+grad+act)_memory_per_gpu"]
            notes = list(plan["notes"])
            if plan["memory_ok"] and s["memory_left_per_gpu"] < 0:
                notes.append(
                    f"llm-analysis predicts this does not fit its {plan['kwargs']['gpu_name']} "
                    f"(memory_left_per_gpu {s['memory_left_per_gpu'] / 1e9:.1f} GB)"
                )
            e.update(
                tokens_per_second_per_gpu=round(tps, 1),
                peak_memory_gb_per_gpu=round(mem / 1e9, 3) if plan["memory_ok"] else None,
                status="ok" if plan["memory_ok"] else "throughput_only",
                settings_used={
                    "model_config": plan["model_config"],
                    **plan["kwargs"],
                    "gradient_accumulation_steps": s["gradient_accumulation_steps"],
                    "flops_efficiency": s["flops_efficiency"],
                    "hbm_memory_efficiency": s["hbm_memory_efficiency"],
                    "efficiency_knobs": "llm-analysis defaults (not passed)",
                },
                outputs=outputs(s, plan["memory_ok"]),
                note="; ".join(notes) or None,
            )
            assert defaults["flops_efficiency"] == s["flops_efficiency"]
            assert math.isfinite(tps)
            results.append(e)

    args.output.write_text(json.dumps(results, indent=2) + "\n")
    ok = [r for r in results if r["tokens_per_second_per_gpu"] is not None]
    for r in ok:
        mem = r["peak_memory_gb_per_gpu"]
        print(
            f"{r['id']:55s} {r['tokens_per_second_per_gpu']:>10.1f} tok/s/GPU  "
            f"{'-' if mem is None else f'{mem:.1f}':>7} GB  [{r['status']}]"
        )
    print(
        f"{len(ok)} of {len(results)} rows computed "
        f"({sum(r['status'] == 'ok' for r in results)} with memory) by llm-analysis {la_version}; "
        f"wrote {args.output} in {time.perf_counter() - t0:.2f} s"
    )
    return 0 if len(ok) >= 5 else 1


if __name__ == "__main__":
    sys.exit(main())
