"""Fit: whether a model fits some GPUs at a layout, and with how much context, by the memory arithmetic.

Per GPU, vLLM may use `gpu_memory_utilization` of the card. From that go the weights (the checkpoint's
bytes split over tensor x pipeline ranks; with expert parallelism, the routed experts are spread over
the data-parallel ranks as well while every rank holds its own whole copy of attention, embeddings and
shared experts: per_rank_weights) and a headroom for what is not the KV cache: the CUDA context, CUDA graphs
and communication buffers (a fixed part) and the activations of one scheduler step (max_num_batched_tokens
tokens of hidden state, and the logits of max_num_seqs sequences). The rest is KV cache: its tokens are
the context one sequence may have, or shared among sessions.
"""

from __future__ import annotations

from dataclasses import dataclass

from .gpus import GIB, Gpus
from .shape import ModelShape

FIXED_HEADROOM = int(1.5 * GIB)  # CUDA context, CUDA graphs, NCCL buffers
BATCHED_TOKENS = 8192  # vLLM's default max_num_batched_tokens with chunked prefill
ACTIVATION_COPIES = 16  # hidden-state-sized buffers live at once in a step (residual, norms, MoE dispatch)
MAX_SEQS = 256  # vLLM's default max_num_seqs: the logits of that many sequences per step
MIN_CONTEXT = 8192  # below this a coding assistant cannot hold its own system prompt and tools
CONTEXT_STEP = 1024  # contexts are offered in whole KiB of tokens


@dataclass(frozen=True, slots=True)
class Layout:
    """How a preset splits the model and sets the cache."""

    tp: int = 1
    pp: int = 1
    dp: int = 1
    expert_parallel: bool = False
    kv_dtype: str = "auto"
    mtp: bool = False
    gpu_memory_utilization: float = 0.9
    max_model_len: int | None = None
    cpu_offload: int = 0  # bytes of weights each GPU leaves in host memory (vLLM's cpu_offload_gb)

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.dp


@dataclass(frozen=True, slots=True)
class Fit:
    gpus_needed: int
    usable: int  # bytes per GPU vLLM may use
    weights: int  # bytes per GPU
    headroom: int  # bytes per GPU
    kv_budget: int  # bytes per GPU left for the KV cache (may be negative)
    kv_per_token: float  # bytes per GPU
    tokens: int  # KV cache tokens (per data-parallel replica)
    context: int  # the largest context one sequence can have (0: none)
    sessions: int  # full-context sequences that fit at once (per replica)
    reason: str | None  # why it does not fit; None when it does
    note: str | None = None  # a fit at less context than the layout asked for
    brief: str | None = None  # the reason in a few words, for a narrow table

    @property
    def fits(self) -> bool:
        return self.reason is None


def headroom(shape: ModelShape, layout: Layout) -> int:
    hidden = BATCHED_TOKENS * shape.hidden * 2 * ACTIVATION_COPIES
    logits = MAX_SEQS * shape.vocab * 4 // layout.tp
    return FIXED_HEADROOM + hidden + logits


def plan(shape: ModelShape, weight_bytes: int, layout: Layout, gpus: Gpus) -> Fit:
    usable = int(gpus.memory * layout.gpu_memory_utilization)
    weights = max(0, per_rank_weights(shape, weight_bytes, layout) - layout.cpu_offload)
    room = headroom(shape, layout)
    budget = usable - weights - room
    per_token = shape.kv_bytes_per_token(layout.kv_dtype, layout.tp, layout.pp, layout.mtp)
    state = shape.state_bytes_per_sequence(layout.tp, layout.pp)
    tokens = max(0, int((budget - state) // per_token)) if budget > state else 0
    limit = min(shape.max_context, layout.max_model_len or shape.max_context)
    context = min(limit, tokens // CONTEXT_STEP * CONTEXT_STEP if tokens < limit else limit)
    sessions = int(budget // (context * per_token + state)) if context else 0
    reason = brief = None
    if gpus.count < layout.gpus:
        reason = f"needs {layout.gpus} GPUs ({_split(layout)}); this box has {gpus.count}"
        brief = f"needs {layout.gpus} GPUs"
    elif budget <= 0:
        reason = (
            f"weights {weights / GIB:.1f} GiB + headroom {room / GIB:.1f} GiB per GPU exceed the "
            f"{usable / GIB:.1f} GiB vLLM may use ({layout.gpu_memory_utilization:g} of "
            f"{gpus.memory / GIB:g} GiB)"
        )
        brief = "weights too big"
    elif context < min(MIN_CONTEXT, limit):
        reason = (
            f"only {tokens} tokens of KV cache fit ({budget / GIB:.2f} GiB per GPU at "
            f"{per_token / 1024:.1f} KiB a token); a usable context needs {MIN_CONTEXT}"
        )
        brief = f"context < {MIN_CONTEXT}"
    note = None
    if reason is None and layout.max_model_len and context < layout.max_model_len:
        note = f"its {layout.max_model_len} tokens of context do not fit; {context} do"
    return Fit(
        layout.gpus, usable, weights, room, budget, per_token, tokens, context, sessions, reason, note, brief
    )


def per_rank_weights(shape: ModelShape, weight_bytes: int, layout: Layout) -> int:
    """The checkpoint bytes one GPU holds. Tensor and pipeline parallelism shard every layer (embeddings
    and the output head by vocabulary); expert parallelism over the data-parallel ranks spreads only the
    routed experts, and each data-parallel rank holds its own copy of the rest."""
    shards = layout.tp * layout.pp
    if not (layout.expert_parallel and layout.dp > 1):
        return -(-weight_bytes // shards)
    experts = weight_bytes * shape.expert_share
    return int((weight_bytes - experts) / shards + experts / (shards * layout.dp))


def _split(layout: Layout) -> str:
    parts = [f"TP {layout.tp}"]
    if layout.pp > 1:
        parts.append(f"PP {layout.pp}")
    if layout.dp > 1:
        parts.append(f"DP {layout.dp}")
    return " x ".join(parts)
