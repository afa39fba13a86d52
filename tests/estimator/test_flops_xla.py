"""The estimator's training FLOPs per step agree with XLA's cost_analysis() within 3%.

Three architectures (dense multi-head attention with a GELU MLP; grouped-query attention with a
gated MLP; a top-2 mixture of experts) at two sequence lengths, written in JAX
(tests/estimator/jax_reference.py) and compiled from abstract shapes: nothing is allocated.
"""

from __future__ import annotations

import pytest

from app.estimator.flops import model_ops, training_flops
from app.estimator.model import TransformerShape

pytest.importorskip("jax")

from tests.estimator.jax_reference import xla_training_flops

TOLERANCE = 0.03  # the acceptance bound

SHAPES = {
    "dense-mha-gelu": TransformerShape(
        layers=2, hidden_size=1024, heads=16, ffn_hidden_size=4096, vocab_size=16_384
    ),
    "gqa-gated": TransformerShape(
        layers=2,
        hidden_size=1024,
        heads=16,
        kv_heads=4,
        ffn_hidden_size=2816,
        vocab_size=16_384,
        gated_ffn=True,
    ),
    "moe-top2": TransformerShape(
        layers=2,
        hidden_size=1024,
        heads=16,
        kv_heads=8,
        ffn_hidden_size=2048,
        vocab_size=16_384,
        gated_ffn=True,
        experts=8,
        experts_per_token=2,
    ),
}


@pytest.mark.parametrize("seq_len", [512, 2048])
@pytest.mark.parametrize("name", list(SHAPES))
def test_training_flops_match_xla_cost_analysis(name: str, seq_len: int) -> None:
    shape = SHAPES[name]
    batch = 2
    ops = model_ops(shape, batch=batch, seq_len=seq_len, act_bytes=4, weight_bytes=4, flash=False)
    ours = training_flops(ops)
    xla = xla_training_flops(shape, batch=batch, seq_len=seq_len)
    assert ours == pytest.approx(xla, rel=TOLERANCE), f"ours {ours:.4e} vs XLA {xla:.4e}"


@pytest.mark.parametrize("tensor_parallel", [2, 4, 8])
@pytest.mark.parametrize("name", list(SHAPES))
def test_tensor_parallel_shares_add_up_to_xla_cost_analysis(
    name: str, tensor_parallel: int
) -> None:
    """Under tensor parallelism each GPU does 1/t of the matrix FLOPs (heads of the same head
    dimension, MLP columns, vocabulary split): t x one GPU's count is the whole model's, which
    XLA counts on one device. (With fewer KV heads than GPUs, Megatron-LM replicates them:
    the gqa shape has 4 KV heads, so at t = 8 the key/value projections are computed twice;
    that is real work and stays within the bound.)"""
    shape = SHAPES[name]
    batch, seq_len = 2, 1024
    ops = model_ops(
        shape,
        batch=batch,
        seq_len=seq_len,
        act_bytes=4,
        weight_bytes=4,
        flash=False,
        tensor_parallel=tensor_parallel,
    )
    ours = tensor_parallel * training_flops(ops)
    xla = xla_training_flops(shape, batch=batch, seq_len=seq_len)
    assert ours == pytest.approx(xla, rel=TOLERANCE), f"ours {ours:.4e} vs XLA {xla:.4e}"
