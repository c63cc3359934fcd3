"""The fast generation engine behind `ModelPolicy` (`GenerationConfig.engine = "fast"`): the same
tokens and log-probabilities as transformers' `generate` (engine "hf", the reference) for greedy
decoding, sampling and beam search, at a fraction of its per-token cost on small models.

Where the time goes in `generate` for a ~1M-parameter model (profiled, docs/generator.md): not in
the matrix products but in per-step Python around them: the model's forward (decorators, mask
and cache objects, a dozen small modules per layer), the stopping criteria, the logits
processors, the beam bookkeeping, the cache reordering; and, for beams and samples, in a prefill
that runs every prompt once per beam.  Here:

* each prompt is prefilled ONCE; its beams or samples copy its cache rows;
* the cache is one preallocated buffer per layer, written in place; a beam step reorders only the
  generated positions (the prompt part of a prompt's beams is the same row);
* the forward is a plain function over the checkpoint's own weight tensors that performs the
  checkpoint's module arithmetic op for op (RMSNorm in float32, rotary embedding computed per
  forward from the positions, SDPA with the same mask or causal flag), so on CPU its logits are
  bitwise those of the transformers model (tested);
* stop strings are judged by transformers' own `StopStringCriteria` on the sequence so far, and
  beam search follows transformers' vectorised algorithm step for step (2 x beams candidates per
  step, finished hypotheses merged by score, early stop once every prompt has `beams` of them).

Supported: Llama-family causal LMs (`model_type` "llama", default rotary embedding, SiLU MLP,
SDPA attention, grouped-query attention included).  Anything else makes `unsupported()` say why,
and the policy falls back to transformers' `generate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

_NEG = -1.0e9  # transformers' "impossible" score in beam search


def unsupported(model: Any) -> str | None:
    """Why the fast engine cannot run `model`, or None when it can."""
    cfg = getattr(model, "config", None)
    if cfg is None or getattr(cfg, "model_type", None) != "llama":
        return f"model type {getattr(cfg, 'model_type', None)!r} (only 'llama' is implemented)"
    rope = getattr(cfg, "rope_parameters", None) or {}
    if rope.get("rope_type", "default") != "default":
        return f"rope_type {rope.get('rope_type')!r}"
    if getattr(cfg, "hidden_act", None) != "silu":
        return f"hidden_act {cfg.hidden_act!r}"
    if getattr(cfg, "_attn_implementation", None) != "sdpa":
        return f"attention implementation {getattr(cfg, '_attn_implementation', None)!r} (only 'sdpa')"
    if getattr(cfg, "pretraining_tp", 1) != 1:
        return "pretraining_tp != 1"
    if getattr(model, "training", False):
        return "model in training mode"
    gen = getattr(model, "generation_config", None)
    for name, neutral in _NEUTRAL_GENERATION.items():
        value = getattr(gen, name, None)
        if value is not None and value != neutral:
            return f"its generation config sets {name}={value!r} (a logits processor this engine does not apply)"
    return None


# generation-config fields that make transformers' `generate` add a logits processor (or another
# decoding method) unless they keep these values; the fast engine applies none of them
_NEUTRAL_GENERATION: dict[str, Any] = {
    "repetition_penalty": 1.0, "encoder_repetition_penalty": 1.0, "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0, "bad_words_ids": (), "min_length": 0, "min_new_tokens": 0,
    "forced_bos_token_id": -1, "forced_eos_token_id": -1, "suppress_tokens": (), "begin_suppress_tokens": (),
    "sequence_bias": (), "min_p": 0.0, "typical_p": 1.0, "epsilon_cutoff": 0.0, "eta_cutoff": 0.0, "top_h": 0.0,
    "exponential_decay_length_penalty": (), "renormalize_logits": False, "remove_invalid_values": False,
    "diversity_penalty": 0.0, "num_beam_groups": 1, "guidance_scale": 1.0, "watermarking_config": (),
    "penalty_alpha": 0.0, "constraints": (), "force_words_ids": (), "prompt_lookup_num_tokens": 0,
    "assistant_model": (), "low_memory": False,
}


class StopTest:
    """Which rows end in a stop string: transformers' own `StopStringCriteria`, asked only when it
    could matter.  Its match needs the last token to begin with a suffix of a stop string, so that
    token contains the stop string's last character or, split inside a multi-byte character,
    decodes to U+FFFD; rows whose last tokens are all other tokens do not match.  A last token that
    begins with a whole stop string (the `[END]` token) matches whatever came before.  Only when
    some row ends in a token of neither kind that could still end a stop string (`]`, say) is the
    criterion itself run, on every row."""

    def __init__(self, tokenizer: Any, stops: tuple[str, ...], vocab_size: int) -> None:
        from transformers.generation.stopping_criteria import StopStringCriteria

        self.criterion = StopStringCriteria(tokenizer=tokenizer, stop_strings=list(stops))
        self.can_end: torch.Tensor | None = None
        self.certain: torch.Tensor | None = None
        if stops and not any(s[-1].isspace() for s in stops):
            last = {s[-1] for s in stops} | {"\ufffd"}
            known = len(tokenizer)
            can_end, certain = [True] * max(vocab_size, known), [False] * max(vocab_size, known)
            for i in range(known):
                text = tokenizer.decode([i], skip_special_tokens=False, clean_up_tokenization_spaces=False)
                can_end[i] = any(c in text for c in last)
                certain[i] = "\ufffd" not in text and any(text.startswith(s) for s in stops)
            self.can_end = torch.tensor(can_end, dtype=torch.bool)
            self.certain = torch.tensor(certain, dtype=torch.bool)

    def __call__(self, seq: torch.Tensor) -> torch.Tensor:
        if self.can_end is not None and self.certain is not None:
            last = seq[:, -1].clamp(0, self.can_end.numel() - 1)
            certain = self.certain.to(seq.device)[last]
            if not bool((self.can_end.to(seq.device)[last] & ~certain).any()):
                return certain
        return self.criterion(seq, None)


@dataclass(frozen=True)
class Decoded:
    """What one generation call produced: `tokens[r]` the generated ids of returned row r (each
    prompt's rows together, fill after its end exactly as transformers fills it), `step_logprobs[r]`
    the log-probability of each of them under the raw logits, and what was computed: the tokens
    the prefill read and the positions generated over all rows of every step."""

    tokens: torch.Tensor
    step_logprobs: torch.Tensor
    prompt_tokens: int
    generated_tokens: int


@dataclass
class _Layer:
    """One decoder layer's weights, the projections that read the same input concatenated (their
    products are the same numbers as the separate ones: tested against the transformers model)."""

    ln1: torch.Tensor
    ln1_eps: float
    qkv: torch.Tensor
    qkv_b: torch.Tensor | None
    o: torch.Tensor
    o_b: torch.Tensor | None
    ln2: torch.Tensor
    ln2_eps: float
    gate_up: torch.Tensor
    gate_up_b: torch.Tensor | None
    down: torch.Tensor
    down_b: torch.Tensor | None


def _joined(*linears: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    weight = torch.cat([m.weight.detach() for m in linears])
    if all(m.bias is None for m in linears):
        return weight, None
    return weight, torch.cat([(m.bias if m.bias is not None else m.weight.new_zeros(m.out_features)).detach()
                              for m in linears])


class _Cache:
    """Keys and values of every layer for `rows` rows and up to `length` positions, written in
    place: one tensor (layers, rows, 2, kv heads, length, head dim), so that a beam step reorders
    them all in one indexing operation."""

    def __init__(self, layers: int, rows: int, heads: int, length: int, head_dim: int, like: torch.Tensor) -> None:
        self.kv = torch.empty((layers, rows, 2, heads, length, head_dim), dtype=like.dtype, device=like.device)
        self.used = 0

    def reorder(self, rows: torch.Tensor, start: int) -> None:
        """Rows take the keys and values of `rows[i]` from position `start` on (beam reordering)."""
        self.kv[:, :, :, :, start:self.used] = self.kv[:, rows, :, :, start:self.used]


class _SharedCache:
    """The shared-prefix layout (engine "fast-shared"): each prompt's keys and values once
    (`prefix`: layers, prompts, 2, kv heads, prompt length, head dim) and every row's generated
    positions apart (`gen`: layers, rows, 2, kv heads, max new, head dim), rows grouped by prompt
    (`copies` each).  A decoding step then reads a prompt's keys once for all its beams instead of
    once per beam.  `used` counts positions as in `_Cache` (prompt + generated)."""

    def __init__(self, prefix: torch.Tensor, rows: int, max_new: int) -> None:
        layers, prompts, _, heads, length, head_dim = prefix.shape
        self.prefix = prefix
        self.length = length
        self.copies = rows // prompts
        self.gen = torch.empty((layers, rows, 2, heads, max_new, head_dim), dtype=prefix.dtype, device=prefix.device)
        self.used = length

    def reorder(self, rows: torch.Tensor, start: int) -> None:
        """Rows take the generated keys and values of `rows[i]` (the prompt part is shared: `start`
        must be the prompt length)."""
        if start != self.length:
            raise ValueError(f"a shared-prefix cache reorders from the prompt's end ({self.length}), not {start}")
        g = self.used - self.length
        self.gen[:, :, :, :, :g] = self.gen[:, rows, :, :, :g]


class LlamaDecoder:
    """The forward pass of a Llama checkpoint over a `_Cache`, and generation with it."""

    def __init__(self, model: Any, shared_prefix: bool = False) -> None:
        """`shared_prefix`: decoding steps attend to each prompt's keys once for all its rows
        (`_SharedCache`): the same arithmetic summed in another order, so log-probabilities agree with
        transformers' to float rounding, not to the bit (engine "fast-shared")."""
        why = unsupported(model)
        if why is not None:
            raise ValueError(f"the fast engine does not support this model: {why}")
        cfg = model.config
        core = model.model
        self.heads = cfg.num_attention_heads
        self.kv_heads = cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        self.groups = self.heads // self.kv_heads
        self.scaling = self.head_dim ** -0.5
        self.embed = core.embed_tokens.weight.detach()
        self.norm = core.norm.weight.detach()
        self.norm_eps = core.norm.variance_epsilon
        self.head = model.lm_head.weight.detach()
        self.head_b = model.lm_head.bias.detach() if model.lm_head.bias is not None else None
        self.inv_freq = core.rotary_emb.inv_freq.detach()
        self.rope_scale = core.rotary_emb.attention_scaling
        self.layers = []
        for layer in core.layers:
            a, m = layer.self_attn, layer.mlp
            o_b = a.o_proj.bias.detach() if a.o_proj.bias is not None else None
            down_b = m.down_proj.bias.detach() if m.down_proj.bias is not None else None
            self.layers.append(_Layer(
                layer.input_layernorm.weight.detach(), layer.input_layernorm.variance_epsilon,
                *_joined(a.q_proj, a.k_proj, a.v_proj), a.o_proj.weight.detach(), o_b,
                layer.post_attention_layernorm.weight.detach(), layer.post_attention_layernorm.variance_epsilon,
                *_joined(m.gate_proj, m.up_proj), m.down_proj.weight.detach(), down_b))
        self.intermediate = cfg.intermediate_size
        self.num_parameters = int(model.num_parameters())
        self._versions = self.weight_versions(model)
        self.forward_tokens = 0  # tokens fed to the forward since construction (the FLOPs test counts them)
        self.shared_prefix = shared_prefix

    @staticmethod
    def weight_versions(model: Any) -> tuple[int, ...]:
        return tuple(p._version for p in model.parameters())

    def stale(self, model: Any) -> bool:
        """Whether `model`'s weights changed in place since this decoder was built (its joined
        projections are copies, so it must then be rebuilt)."""
        return self.weight_versions(model) != self._versions

    # -- the forward ----------------------------------------------------------------------------

    @staticmethod
    def _rms(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
        dtype = x.dtype
        h = x.to(torch.float32)
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
        return w * h.to(dtype)

    @staticmethod
    def _rotate(x: torch.Tensor) -> torch.Tensor:
        half = x.shape[-1] // 2
        return torch.cat((-x[..., half:], x[..., :half]), dim=-1)

    def forward(self, ids: torch.Tensor, positions: torch.Tensor, cache: _Cache | _SharedCache,
                mask: torch.Tensor | None) -> torch.Tensor:
        """The last hidden state (before the final norm) of every row for `ids` (rows, T) at
        `positions` (rows, T), appended to `cache` at its current end; `mask` (rows, 1, T, used + T)
        bool or None."""
        rows, t = ids.shape
        start = cache.used
        end = start + t
        nh, nkv = self.heads, self.kv_heads
        self.forward_tokens += ids.numel()
        x = F.embedding(ids, self.embed)
        freqs = positions[..., None].float() * self.inv_freq.to(device=x.device, dtype=torch.float)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos = (emb.cos() * self.rope_scale).to(x.dtype)[:, None]
        sin = (emb.sin() * self.rope_scale).to(x.dtype)[:, None]
        causal = mask is None and t > 1
        shared = isinstance(cache, _SharedCache)
        if shared:
            if t != 1:
                raise ValueError("a shared-prefix cache takes one position a row per forward")
            g0 = start - cache.length
            kv = cache.gen
            pad = None if mask is None else mask[::cache.copies, 0, 0, :cache.length]  # (prompts, length)
        else:
            kv = cache.kv
        for i, w in enumerate(self.layers):
            h = self._rms(x, w.ln1, w.ln1_eps)
            qkv = F.linear(h, w.qkv, w.qkv_b).view(rows, t, nh + 2 * nkv, self.head_dim).transpose(1, 2)
            qk = qkv[:, :nh + nkv]
            qk = (qk * cos) + (self._rotate(qk) * sin)
            if shared:
                kv[i, :, 0, :, g0:g0 + 1] = qk[:, nh:]
                kv[i, :, 1, :, g0:g0 + 1] = qkv[:, nh + nkv:]
                a = self._attend_shared(qk[:, :nh], cache.prefix[i], kv[i, :, :, :, :g0 + 1], pad)
            else:
                kv[i, :, 0, :, start:end] = qk[:, nh:]
                kv[i, :, 1, :, start:end] = qkv[:, nh + nkv:]
                a = self._attend(qk[:, :nh], kv[i, :, 0, :, :end], kv[i, :, 1, :, :end], mask, causal)
            x = x + F.linear(a.transpose(1, 2).reshape(rows, t, -1), w.o, w.o_b)
            h = self._rms(x, w.ln2, w.ln2_eps)
            gate, up = F.linear(h, w.gate_up, w.gate_up_b).split(self.intermediate, dim=-1)
            x = x + F.linear(F.silu(gate) * up, w.down, w.down_b)
        cache.used = end
        return x[:, -1]

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Next-token logits from last hidden states (rows, hidden).  Run it on as many rows as
        transformers does (every beam or sample of a prompt): a one-row product takes another BLAS
        path than a many-row one, with other rounding."""
        return F.linear(self._rms(hidden[:, None], self.norm, self.norm_eps), self.head, self.head_b)[:, -1]

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None,
                causal: bool) -> torch.Tensor:
        """transformers' SDPA attention: the same kernel inputs, grouped-query heads handled alike."""
        t = q.shape[2]
        kw: dict[str, Any] = {}
        if self.groups > 1:
            if mask is None:
                kw["enable_gqa"] = True
            elif t == 1:
                rows = q.shape[0]
                q = q.reshape(rows, self.kv_heads, self.groups, q.shape[-1])
            else:
                k = k[:, :, None].expand(-1, -1, self.groups, -1, -1).reshape(k.shape[0], self.heads, *k.shape[2:])
                v = v[:, :, None].expand(-1, -1, self.groups, -1, -1).reshape(v.shape[0], self.heads, *v.shape[2:])
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.0, scale=self.scaling,
                                             is_causal=causal, **kw)
        return out.reshape(out.shape[0], -1, t, v.shape[-1])

    def _attend_shared(self, q: torch.Tensor, prefix: torch.Tensor, gen: torch.Tensor,
                       pad: torch.Tensor | None) -> torch.Tensor:
        """Attention of one new position per row (`q`: rows, heads, 1, head dim) over its prompt's
        keys (`prefix`: prompts, 2, kv heads, length, head dim; read once for the prompt's rows) and
        its own generated ones (`gen`: rows, 2, kv heads, g, head dim); `pad` (prompts, length)
        marks the prompt's real positions.  One softmax over both parts, as SDPA computes."""
        b, _, kvh, length, d = prefix.shape
        rows = q.shape[0]
        c, groups = rows // b, self.groups
        # the prompt part: a prompt's rows and grouped heads are the query rows of one product
        qp = q.view(b, c, kvh, groups, d).permute(0, 2, 1, 3, 4).reshape(b, kvh, c * groups, d)
        sp = torch.matmul(qp, prefix[:, 0].transpose(-1, -2)) * self.scaling  # (b, kv, c * groups, length)
        if pad is not None:
            sp = sp.masked_fill(~pad[:, None, None, :], float("-inf"))
        qg = q.view(rows, kvh, groups, d)
        sg = torch.matmul(qg, gen[:, 0].transpose(-1, -2)) * self.scaling  # (rows, kv, groups, g)
        g = sg.shape[-1]
        sg = sg.view(b, c, kvh, groups, g).permute(0, 2, 1, 3, 4).reshape(b, kvh, c * groups, g)
        p = torch.softmax(torch.cat((sp, sg), dim=-1), dim=-1)
        op = torch.matmul(p[..., :length], prefix[:, 1])  # (b, kv, c * groups, d)
        pg = p[..., length:].reshape(b, kvh, c, groups, g).permute(0, 2, 1, 3, 4).reshape(rows, kvh, groups, g)
        out = op.view(b, kvh, c, groups, d).permute(0, 2, 1, 3, 4).reshape(rows, kvh, groups, d)
        out = out + torch.matmul(pg, gen[:, 1])
        return out.reshape(rows, self.heads, 1, d)

    # -- generation -------------------------------------------------------------------------------

    def _prefill(self, ids: torch.Tensor, attention: torch.Tensor, copies: int, max_new: int
                 ) -> tuple[torch.Tensor, _Cache, torch.Tensor | None, torch.Tensor]:
        """Run each prompt once and lay its cache out for `copies` rows.  Returns the first logits
        (`copies` rows per prompt), the cache, the key mask of all rows over every position (None when
        no prompt is padded: transformers then passes no mask either) and the next positions."""
        b, length = ids.shape
        padded = not bool(attention.all())
        positions = (attention.long().cumsum(-1) - 1).masked_fill(attention == 0, 0)
        keys = None
        mask = None
        if padded:
            keys = torch.ones((b * copies, length + max_new), dtype=torch.bool, device=ids.device)
            keys[:, :length] = attention.bool().repeat_interleave(copies, dim=0)
            causal = torch.ones((length, length), dtype=torch.bool, device=ids.device).tril()
            mask = (causal[None] & attention.bool()[:, None, :])[:, None]
        one = _Cache(len(self.layers), b, self.kv_heads, length, self.head_dim, self.embed)
        logits = self.logits(self.forward(ids, positions, one, mask).repeat_interleave(copies, dim=0))
        following = positions[:, -1:].repeat_interleave(copies, dim=0) + 1
        if self.shared_prefix:
            return logits, _SharedCache(one.kv, b * copies, max_new), keys, following
        cache = _Cache(len(self.layers), b * copies, self.kv_heads, length + max_new, self.head_dim, self.embed)
        shape = cache.kv.shape
        cache.kv.view(shape[0], b, copies, *shape[2:])[..., :length, :] = one.kv[:, :, None]
        cache.used = length
        return logits, cache, keys, following

    @staticmethod
    def _step_mask(keys: torch.Tensor | None, end: int) -> torch.Tensor | None:
        return None if keys is None else keys[:, None, None, :end]

    def sample(self, ids: torch.Tensor, attention: torch.Tensor, *, copies: int, max_new: int, do_sample: bool,
               warp: Any, stop: Any, eos: int | None, pad: int) -> Decoded:
        """Greedy decoding (`do_sample` False) or multinomial sampling of `copies` rows per prompt,
        as transformers' `_sample`: logits processed by `warp` (temperature, top-p), finished rows fed
        the pad token, stop when every row has ended or after `max_new` tokens."""
        b, length = ids.shape
        logits, cache, keys, positions = self._prefill(ids, attention, copies, max_new)
        rows = b * copies
        seq = ids.repeat_interleave(copies, dim=0)
        alive = torch.ones(rows, dtype=torch.long, device=ids.device)
        out_tokens, out_lp = [], []
        steps = 0
        while True:
            logits = logits.to(copy=True, dtype=torch.float32)
            scores = warp(seq, logits) if warp is not None else logits
            if do_sample:
                nxt = torch.multinomial(F.softmax(scores, dim=-1), num_samples=1).squeeze(1)
            else:
                nxt = torch.argmax(scores, dim=-1)
            if eos is not None:
                nxt = nxt * alive + pad * (1 - alive)
            out_tokens.append(nxt)
            out_lp.append(torch.log_softmax(logits, dim=-1).gather(1, nxt[:, None]).squeeze(1))
            seq = torch.cat([seq, nxt[:, None]], dim=-1)
            steps += 1
            done = seq.shape[1] >= length + max_new
            hit = self._hits(seq, stop, eos)
            alive = alive & ~hit
            if done or not bool(alive.any()):
                break
            logits = self.logits(self.forward(nxt[:, None], positions, cache, self._step_mask(keys, cache.used + 1)))
            positions = positions + 1
        return Decoded(torch.stack(out_tokens, dim=1), torch.stack(out_lp, dim=1), b * length, steps * rows)

    @staticmethod
    def _hits(seq: torch.Tensor, stop: Any, eos: int | None) -> torch.Tensor:
        """Which rows of `seq` end in a stop string or the end-of-sequence token."""
        hit = torch.zeros(seq.shape[0], dtype=torch.bool, device=seq.device)
        if stop is not None:
            hit = hit | stop(seq)
        if eos is not None:
            hit = hit | (seq[:, -1] == eos)
        return hit

    def beam_search(self, ids: torch.Tensor, attention: torch.Tensor, *, beams: int, returned: int, max_new: int,
                    stop: Any, eos: int | None, fill: int) -> Decoded:
        """Beam search with `beams` beams, the best `returned` finished hypotheses per prompt (length
        penalty 0, early stopping), step for step transformers' vectorised beam search."""
        b, length = ids.shape
        dev = ids.device
        logits, cache, keys, positions = self._prefill(ids, attention, beams, max_new)
        total = length + max_new
        keep = 2 * beams  # candidates kept per step: max(2, 1 + number of eos ids) x beams, one eos id here
        top_mask = torch.zeros(keep, dtype=torch.bool, device=dev)
        top_mask[:beams] = True
        run_seq = torch.full((b, beams, total), fill, dtype=torch.long, device=dev)
        run_seq[:, :, :length] = ids[:, None, :]
        fin_seq = run_seq.clone()
        run_lp = torch.zeros((b, beams, max_new), dtype=torch.float32, device=dev)
        fin_lp = run_lp.clone()
        fin_len = torch.zeros((b, beams), dtype=torch.long, device=dev)  # generated positions of each hypothesis
        run_score = torch.zeros((b, beams), dtype=torch.float32, device=dev)
        run_score[:, 1:] = _NEG
        fin_score = torch.full((b, beams), _NEG, dtype=torch.float32, device=dev)
        finished = torch.zeros((b, beams), dtype=torch.bool, device=dev)
        improvable = torch.ones((b, 1), dtype=torch.bool, device=dev)
        offsets = torch.arange(b, device=dev).view(-1, 1) * beams
        vocab = logits.shape[-1]
        cur = length
        steps = 0
        while True:
            lp = torch.log_softmax(logits.to(copy=True, dtype=torch.float32), dim=-1)
            acc = (lp.view(b, beams, vocab) + run_score[:, :, None]).reshape(b, beams * vocab)
            top_score, top_idx = torch.topk(acc, k=keep)
            src = top_idx // vocab
            tok = top_idx % vocab
            cand_seq = torch.take_along_dim(run_seq, src[:, :, None], dim=1)
            cand_seq[:, :, cur] = tok
            cand_lp = torch.take_along_dim(run_lp, src[:, :, None], dim=1)
            cand_lp[:, :, steps] = lp.view(b, beams * vocab).gather(1, top_idx)
            cand_len = torch.full((b, keep), steps + 1, dtype=torch.long, device=dev)
            flat = cand_seq[:, :, :cur + 1].reshape(b * keep, cur + 1)
            hits = self._hits(flat, stop, eos).view(b, keep)
            if cur + 1 >= total:
                hits = torch.ones_like(hits)
            # the beams that go on: the best candidates that did not stop
            go_score = top_score + hits.to(torch.float32) * _NEG
            nxt = torch.topk(go_score, k=beams)[1]
            run_seq = torch.take_along_dim(cand_seq, nxt[:, :, None], dim=1)
            run_lp = torch.take_along_dim(cand_lp, nxt[:, :, None], dim=1)
            run_score = torch.take_along_dim(go_score, nxt, dim=1)
            run_src = torch.take_along_dim(src, nxt, dim=1)
            # finished hypotheses: the top `beams` candidates that stopped, merged by score
            just = hits & top_mask[None, :]
            cand_fin = top_score / 1.0  # length penalty 0: divided by (length ** 0)
            full = torch.all(finished, dim=-1, keepdim=True)
            cand_fin = cand_fin + full.to(torch.float32) * _NEG
            cand_fin = cand_fin + (~improvable).to(torch.float32) * _NEG
            cand_fin = cand_fin + (~just) * _NEG
            m_seq = torch.cat((fin_seq, cand_seq), dim=1)
            m_score = torch.cat((fin_score, cand_fin), dim=1)
            m_lp = torch.cat((fin_lp, cand_lp), dim=1)
            m_len = torch.cat((fin_len, cand_len), dim=1)
            m_fin = torch.cat((finished, just), dim=1)
            best = torch.topk(m_score, k=beams)[1]
            fin_seq = torch.take_along_dim(m_seq, best[:, :, None], dim=1)
            fin_score = torch.take_along_dim(m_score, best, dim=1)
            fin_lp = torch.take_along_dim(m_lp, best[:, :, None], dim=1)
            fin_len = torch.take_along_dim(m_len, best, dim=1)
            finished = torch.take_along_dim(m_fin, best, dim=1)
            steps += 1
            cur += 1
            worst = torch.where(finished, torch.min(fin_score, dim=1, keepdim=True)[0], _NEG)
            improvable = improvable & torch.any(run_score[:, :1] > worst, dim=-1, keepdim=True)
            going = bool(improvable.any()) and not bool(finished.all()) and not bool(hits.all())
            if not going:
                break
            cache.reorder((run_src + offsets).view(-1), length)
            hidden = self.forward(run_seq[:, :, cur - 1].reshape(-1, 1), positions, cache,
                                  self._step_mask(keys, cache.used + 1))
            logits = self.logits(hidden)
            positions = positions + 1
        width = int(fin_len[:, :returned].max())
        tokens = fin_seq[:, :returned, length:length + width].reshape(b * returned, width)
        lps = fin_lp[:, :returned, :width].reshape(b * returned, width)
        return Decoded(tokens, lps, b * length, steps * b * beams)
