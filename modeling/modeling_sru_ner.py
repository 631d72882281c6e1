"""SRU-NER: a transition-based (nested) NER model with a slot-based recurrent unit, trained across
partially annotated corpora (Ruano et al., 2025, "Effective Multi-Task Learning for Biomedical Named
Entity Recognition", BioNLP 2025; reference implementation github.com/Priberam/sru-ner, BSD-3).
Clean-room implementation of ../shared/design/sru-ner.md (section numbers below refer to it).

Shipped with SRU-NER checkpoints as Hub remote code: only torch/transformers and sibling imports.

Overview (one sentence of `N` words, `Q = N+2` slots: CLS, the words, SEP):
  1. the encoder reads `[CLS] pieces... [SEP]`; each slot is the max over its sub-word states -> S;
  2. the SRU state `C` starts as `S`, BOA is written to slot 0;
  3. each step an MLP reads (the word under the input pointer, the SRU output h) and scores the
     `2M+2` actions (EOA, SH, TR/RE per type); their softmax-weighted embeddings (gated to actions
     scoring at least as high as SH) are written to the pointer's slot; h is re-read around it;
  4. the pointer moves on SH/EOA (teacher-forced in training, argmax at inference).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .canonical import validate_example
from .configuration_sru_ner import SruNerConfig
from .data_report import sentence_key
from .encoder_loading import build_encoder, load_pretrained_encoder
from .family_base import GENERIC_OPTIM, NerFamilyMixin
from .hf_compat import init
from .sru_actions import (
    EOA,
    SH,
    decode_step_probabilities,
    drop_same_type_crossings,
    oracle_rows,
    rows_to_multihot,
    validate_spans,
)
from .sru_inputs import merge_examples, slot_index
from .subwords import encode_words, fit_and_split, predict_in_windows, sequence_budget
from .token_logits import no_token_logits_message

_PADDING_SCORE = -1e12


@dataclass
class SruNerOutput(ModelOutput):
    """Output of [`SruNerForTokenActions`].

    Attributes:
        loss: scalar, when `gold_rows` are given (§7.4).
        logits: (B, T, 2M+2) action logits of every step.
        step_mask: (B, T) bool. Training: the (sentence, step) rows that enter the loss. Inference:
            the steps a sentence ran before it stopped (argmax EOA or its step cap).
        targets: (B, T, 2M+2) training targets of every step (gold rows with the multi-corpus soft
            targets and SH postponement of §7.3); None at inference.
        gold_row_index: (B, T) long, the gold row each training step was compared with.
        pointer: (B, T) long, the slot under the input pointer (= the slot written) at each step.
        num_steps: (B,) long, steps per sentence (inference: until it stopped).
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    step_mask: torch.BoolTensor | None = None
    targets: torch.FloatTensor | None = None
    gold_row_index: torch.LongTensor | None = None
    pointer: torch.LongTensor | None = None
    num_steps: torch.LongTensor | None = None


@dataclass
class SruCache:
    """State of the exact incremental SRU used at inference (§8.4).

    Attributes:
        state: (B, Q, d) the SRU state C.
        content_scores: (B, Q, J) `alpha * C @ (L*D2)^T`, updated one column per write.
        position_scores: (2hc+4, J) `P @ (L*D2)^T`, computed once.
    """

    state: torch.Tensor
    content_scores: torch.Tensor
    position_scores: torch.Tensor


class SlotRecurrentUnit(nn.Module):
    """The slot-based recurrent unit of §5.

    Parameters: latents `L` (J, d), diagonals `D1` (output) and `D2` (keys) (d,), relative position
    table `P` (2hc+4, d), scale `alpha`. `g(C, m)` attends over the slots with position-aware keys
    centred on slot `m` and returns a (B, d) summary of the un-positioned state.
    """

    def __init__(self, config: SruNerConfig, hidden_size: int):
        super().__init__()
        hc = config.half_context
        self.half_context = hc
        self.legacy_position_quirks = config.legacy_position_quirks
        self.latents = nn.Parameter(torch.empty(config.num_latents, hidden_size))
        self.value_diagonal = nn.Parameter(torch.empty(hidden_size))  # D1
        self.key_diagonal = nn.Parameter(torch.empty(hidden_size))  # D2
        self.positions = nn.Embedding(
            2 * hc + 4, hidden_size, padding_idx=hc + 3 if config.legacy_position_quirks else None
        )
        self.alpha = nn.Parameter(torch.empty(()), requires_grad=config.alpha_trainable)
        self.latent_dropout = nn.Dropout(config.dropout_latents)
        self.position_dropout = nn.Dropout(config.dropout_positions)
        self.score_dropout = nn.Dropout(config.dropout_slot_scores)

    def position_index(self, centre: torch.Tensor, slot_mask: torch.Tensor) -> torch.Tensor:
        """Row of `P` for every slot given the centre slot.

        Args: centre (B,) long; slot_mask (B, Q) bool.
        Returns: (B, Q) long: `q - m + hc` inside the half context, `2hc+2` outside it, `2hc+1` for
        the CLS slot, `2hc+3` for padding slots.
        """
        hc = self.half_context
        rel = torch.arange(slot_mask.shape[1], device=centre.device)[None, :] - centre[:, None]
        outside = (rel < -hc) | (rel > hc)
        idx = torch.where(outside, 2 * hc + 2, rel + hc)
        if self.legacy_position_quirks:  # reference: offset +(hc+1) shares the CLS row
            idx = torch.where(rel == hc + 1, 2 * hc + 1, idx)
        idx[:, 0] = 2 * hc + 1
        return torch.where(slot_mask, idx, 2 * hc + 3)

    def keys(self) -> torch.Tensor:
        """(J, d) latent keys `Dropout(L) * D2` (dropout redrawn at every call)."""
        return self.latent_dropout(self.latents) * self.key_diagonal

    def _attend(self, scores: torch.Tensor, state: torch.Tensor, slot_mask: torch.Tensor) -> torch.Tensor:
        """scores (B, Q, J) -> h (B, d): max over latents, mask padding, softmax over slots, D1 * sum w C."""
        s = self.score_dropout(scores.amax(dim=-1))
        s = torch.where(slot_mask, s, torch.full_like(s, _PADDING_SCORE))  # after dropout: padding stays out
        w = torch.softmax(s, dim=-1)
        return torch.bmm(w.unsqueeze(1), state).squeeze(1) * self.value_diagonal

    def forward(self, state: torch.Tensor, centre: torch.Tensor, slot_mask: torch.Tensor) -> torch.Tensor:
        """Naive `h = g(C, m)` (training; dropout masks redrawn per call).

        Args: state (B, Q, d); centre (B,) long; slot_mask (B, Q) bool.
        Returns: (B, d).
        """
        pos = self.position_dropout(self.positions(self.position_index(centre, slot_mask)))
        positioned = self.alpha * state + pos  # (B, Q, d)
        scores = torch.matmul(positioned, self.keys().t())  # (B, Q, J)
        return self._attend(scores, state, slot_mask)

    # ----- exact incremental form (inference, no dropout) -----
    def start_cache(self, state: torch.Tensor) -> SruCache:
        """Cache for `state` (B, Q, d); O(B Q J d) once."""
        keys = self.latents * self.key_diagonal
        return SruCache(
            state=state.clone(),
            content_scores=self.alpha * torch.matmul(state, keys.t()),
            position_scores=torch.matmul(self.positions.weight, keys.t()),
        )

    def cache_write(self, cache: SruCache, slot: torch.Tensor, omega: torch.Tensor, write: torch.Tensor) -> None:
        """`C[b, slot_b] += omega_b` where `write_b` (B,) bool; updates the one affected score column."""
        rows = torch.arange(slot.shape[0], device=slot.device)
        omega = omega * write.to(omega.dtype)[:, None]
        keys = self.latents * self.key_diagonal
        cache.state[rows, slot] += omega
        cache.content_scores[rows, slot] += self.alpha * torch.matmul(omega, keys.t())

    def cache_read(self, cache: SruCache, centre: torch.Tensor, slot_mask: torch.Tensor) -> torch.Tensor:
        """`g(C, m)` from the cache, O(B (Q J + Q d)). Returns (B, d)."""
        scores = cache.content_scores + cache.position_scores[self.position_index(centre, slot_mask)]
        return self._attend(scores, cache.state, slot_mask)


class SruActionMlp(nn.Module):
    """`u = W2 tanh(W1 Dropout(x) + b1) + b2`, x = [next word ; h] (B, 2d) -> (B, 2M+2) logits."""

    def __init__(self, config: SruNerConfig, hidden_size: int):
        super().__init__()
        self.dropout = nn.Dropout(config.dropout_mlp_input)
        self.hidden = nn.Linear(2 * hidden_size, 2 * hidden_size)
        self.out = nn.Linear(2 * hidden_size, config.num_actions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.hidden(self.dropout(x))))


class SruNerPreTrainedModel(NerFamilyMixin, PreTrainedModel):
    config_class = SruNerConfig
    base_model_prefix = "sru_ner"

    @torch.no_grad()
    def _init_weights(self, module):
        """Spec §13.14: L = 0, D1 = D2 = 1, alpha = alpha_init, BOA = 0, E and P ~ N(0, 1)."""
        if isinstance(module, SlotRecurrentUnit):
            init.zeros_(module.latents)
            init.ones_(module.value_diagonal)
            init.ones_(module.key_diagonal)
            init.constant_(module.alpha, float(self.config.alpha_init))
            c = float(self.config.centre_attention_init)
            if c > 0:  # latent 0 along P[offset 0]: the centre slot scores c (early-learning fix)
                centre = module.positions.weight[module.half_context].detach()
                latents = module.latents.detach().clone()
                latents[0] = c * centre / centre.pow(2).sum().clamp_min(1e-12)
                init.copy_(module.latents, latents)  # skipped, like every init here, for loaded weights
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=1.0)
            if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
                init.zeros_(module.weight[module.padding_idx])
        elif isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, SruNerForTokenActions):  # after its children (the MLP's Linear layers)
            init.normal_(module.action_embeddings, mean=0.0, std=1.0)
            init.zeros_(module.begin_of_actions)
            if self.config.action_bias_init == "prior":  # early-learning fix: start at the action prior
                prior = torch.full((self.config.num_actions,), 0.01)
                prior[EOA], prior[SH] = 0.04, 0.9
                init.copy_(module.action_mlp.out.bias, torch.log(prior) - torch.log1p(-prior))


class SruNerForTokenActions(SruNerPreTrainedModel):
    """SRU-NER over any HF encoder (§4-§8). See the module docstring for the model.

    `collate_stats` / `predict_stats` count what `collate` / `predict_spans` had to change (split
    sentences, dropped crossing mentions, over-long words replaced by UNK, windowed sentences,
    sentences that hit the step cap; data_report.py): nothing is dropped silently.
    """

    card_metadata = {
        "title": "SRU-NER (slot-based transition model with dataset-prefixed types)",
        "papers": [{"name": "SRU-NER", "bibtex": (
            "@inproceedings{ruano2025effective,\n"
            "  title = {Effective Multi-Task Learning for Biomedical Named Entity Recognition},\n"
            "  author = {Ruano and others},\n"
            "  booktitle = {BioNLP 2025},\n"
            "  year = {2025},\n"
            "  note = {Reference implementation: https://github.com/Priberam/sru-ner}\n"
            "}")}],
    }

    #: Training recipes, read by `biomtl train` (`recipe: default | paper`; trainer/config.py lays the
    #: chosen one under the user's config). "default" suits the small embedded encoder: the generic
    #: settings with a 0.1-epoch warm-up, so that short runs learn in their first epoch (BENCHMARKS.md,
    #: standard profile; the full-data dev comparison with a 1-epoch warm-up is still to run);
    #: "paper" is spec §11 (large encoders, 100 epochs). `max_batch_words`: the action loop's training
    #: memory grows with sentences x length^2 (about 1.2 GB per 300-word sentence with the MiniLM), so a
    #: batch of 16 of Linnaeus's longest sentences needs over 20 GB; above 2,600 padded words (16
    #: sentences of 162 words) a batch is cut into smaller ones, which leaves every batch of the
    #: shorter corpora as it was.
    training_recipes = {
        "default": {
            "epochs": 3, "batch_size": 16, "sampling": "inverse", "early_stopping_patience": 1, "max_batch_words": 2600,
            "optim": {**GENERIC_OPTIM, "encoder_warmup_epochs": 0.1, "head_warmup_epochs": 0.1},
            "model": {"overrides": {"loss_reduction": "rows"}},
        },
        "paper": {
            "epochs": 100, "batch_size": 16, "sampling": "inverse", "early_stopping_patience": 30,
            "optim": {"encoder_lr": 2e-5, "head_lr": 3e-4, "encoder_weight_decay": 1e-3, "head_weight_decay": 1e-3,
                      "encoder_warmup_epochs": 1.0, "head_warmup_epochs": 0.5, "schedule": "linear",
                      "betas": [0.9, 0.98], "eps": 1e-6, "max_grad_norm": 1.0},
            "model": {"overrides": {"loss_reduction": "rows"}},
        },
    }

    def __init__(self, config: SruNerConfig):
        super().__init__(config)
        self.encoder = build_encoder(config.encoder_config)
        d = config.encoder_config.hidden_size
        self.sru = SlotRecurrentUnit(config, d)
        self.action_mlp = SruActionMlp(config, d)
        self.action_embeddings = nn.Parameter(torch.empty(config.num_actions, d))  # E
        self.begin_of_actions = nn.Parameter(torch.empty(d))  # BOA
        self._init_family_state()
        self.post_init()
        self.apply_frozen_parameters()

    def apply_frozen_parameters(self) -> None:
        """`alpha` trains only with `config.alpha_trainable`."""
        self.sru.alpha.requires_grad_(bool(self.config.alpha_trainable))

    # ------------------------------------------------------------------------------------------
    # Construction
    # ------------------------------------------------------------------------------------------
    @classmethod
    def from_encoder(cls, encoder_name_or_path: str, corpus_types: dict[str, list[str]],
                     train_examples: list[dict] | None = None, **config_kwargs):
        """New model whose encoder weights are copied once from a pretrained HF encoder.

        Args:
            encoder_name_or_path: Hub id or local folder of any `AutoModel` encoder, or "embedded-minilm".
            corpus_types: corpus -> prefixed types (`{"BC5CDR": ["BC5CDR/Chemical", ...]}`).
            train_examples: the training examples (part of the family contract; this family builds
                nothing from them).
            config_kwargs: any [`SruNerConfig`] field.
        """
        encoder, name = load_pretrained_encoder(encoder_name_or_path)
        name = config_kwargs.pop("encoder_name_or_path", None) or name
        config = SruNerConfig(encoder_config=encoder.config.to_dict(), encoder_name_or_path=name,
                              corpus_types=corpus_types, **config_kwargs)
        return cls._with_pretrained_encoder(config, encoder, name)

    @property
    def encoder_name(self) -> str:
        return str(self.config.encoder_name_or_path)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """{"encoder": transformer parameters, "head": everything else (E, BOA, L, D1, D2, P, alpha, MLP)}."""
        enc = {id(p) for p in self.encoder.parameters()}
        return {
            "encoder": [p for p in self.encoder.parameters() if p.requires_grad],
            "head": [p for p in self.parameters() if id(p) not in enc and p.requires_grad],
        }

    # ------------------------------------------------------------------------------------------
    # Building blocks
    # ------------------------------------------------------------------------------------------
    def encode_slots(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        word_index: torch.Tensor,
        num_slots: int,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Word matrix S (§4): max over the encoder states of each slot's sub-words.

        Args: input_ids, attention_mask, word_index (B, T_tok) (slot per token, -1 = padding).
        Returns: (B, num_slots, d); slots without tokens (padding) are zero.
        """
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        hidden = self.encoder(**kwargs).last_hidden_state  # (B, T, d)
        batch, _, d = hidden.shape
        index = torch.where(word_index >= 0, word_index, num_slots)
        pooled = hidden.new_zeros(batch, num_slots + 1, d)
        pooled = pooled.scatter_reduce(1, index[..., None].expand(-1, -1, d), hidden, "amax", include_self=False)
        return pooled[:, :num_slots]

    def step_logits(self, slots: torch.Tensor, pointer: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Action logits (§6): MLP over [S[b, m_b] ; h]. slots (B, Q, d), pointer (B,), h (B, d) -> (B, 2M+2)."""
        rows = torch.arange(slots.shape[0], device=slots.device)
        return self.action_mlp(torch.cat([slots[rows, pointer], h], dim=-1))

    def step_write(self, logits: torch.Tensor) -> torch.Tensor:
        """Omega (§6): softmax over all actions, zeroed where sigmoid(u_a) < sigmoid(u_SH); (B, 2M+2) -> (B, d)."""
        probs = torch.sigmoid(logits)
        gate = probs >= probs[:, SH : SH + 1]
        return torch.matmul(torch.softmax(logits, dim=-1) * gate.to(logits.dtype), self.action_embeddings)

    def _initial_state(self, slots: torch.Tensor, slot_mask: torch.Tensor) -> torch.Tensor:
        """C = S * mask with BOA added to the CLS slot; (B, Q, d)."""
        state = slots * slot_mask[..., None].to(slots.dtype)
        boa = torch.zeros_like(state)
        boa[:, 0] = self.begin_of_actions
        return state + boa

    # ------------------------------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------------------------------
    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        word_index: torch.Tensor,
        slot_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        gold_rows: torch.Tensor | None = None,
        gold_len: torch.Tensor | None = None,
        other_mask: torch.Tensor | None = None,
        output_attentions: bool | None = None, output_hidden_states: bool | None = None, return_dict: bool | None = None,
    ) -> SruNerOutput | tuple:
        """Teacher-forced training pass (with `gold_rows`) or lock-step decoding (without).

        Args:
            input_ids, attention_mask, token_type_ids: (B, T_tok) encoder inputs.
            word_index: (B, T_tok) long, slot of every token (-1 = padding), see `sru_inputs.slot_index`.
            slot_mask: (B, Q) bool, True for the N_b + 2 real slots.
            gold_rows: (B, A, 2M+2) float multi-hot gold rows (§3.2), zero rows as padding.
            gold_len: (B,) long, real rows per sentence (EOA row included).
            other_mask: (B, 2M+2) float, 1 on the TR/RE of types the sentence's corpus does not annotate.
            output_attentions / output_hidden_states: accepted for transformers' callers; the output
                has neither (a transition model's states are per step, not per layer).
            return_dict: False gives the output as a tuple.
        """
        slot_mask = slot_mask.bool()
        slots = self.encode_slots(input_ids, attention_mask, word_index, slot_mask.shape[1], token_type_ids)
        if gold_rows is not None:
            if gold_len is None:
                gold_len = (gold_rows.sum(-1) > 0).sum(-1)
            if other_mask is None:
                other_mask = torch.zeros_like(gold_rows[:, 0])
            out = self._teacher_forced(slots, slot_mask, gold_rows.to(slots.dtype), gold_len,
                                       other_mask.to(slots.dtype))
        else:
            out = self._lock_step(slots, slot_mask)
        return out if return_dict is not False else out.to_tuple()

    def _teacher_forced(
        self,
        slots: torch.Tensor,
        slot_mask: torch.Tensor,
        gold_rows: torch.Tensor,
        gold_len: torch.Tensor,
        other_mask: torch.Tensor,
    ) -> SruNerOutput:
        """§7: pointer teacher-forced, Omega from the model's own logits; multi-corpus targets (§7.3).

        Vectorised over the batch: per step only tensor ops; the host checks "all sentences on their
        last row" every `stop_check_interval` steps (every step on CPU) and later steps are masked,
        so the result does not depend on the interval.
        """
        cfg = self.config
        batch, num_slots, _ = slots.shape
        n_rows = gold_rows.shape[1]
        device = slots.device
        rows = torch.arange(batch, device=device)
        state = self._initial_state(slots, slot_mask)
        zeros = torch.zeros(batch, dtype=torch.long, device=device)
        h = self.sru(state, zeros, slot_mask)
        pointer = torch.ones(batch, dtype=torch.long, device=device)
        row_idx = zeros.clone()
        removed = torch.zeros(batch, dtype=torch.bool, device=device)
        eoa_seen = torch.zeros(batch, dtype=torch.bool, device=device)
        alive = torch.ones((), dtype=torch.bool, device=device)
        multi = cfg.is_multi_task
        max_steps = math.ceil(cfg.train_step_factor * n_rows) if multi else n_rows
        interval = 1 if device.type == "cpu" else max(1, cfg.stop_check_interval)
        slot_float = slot_mask.to(slots.dtype)
        rec_logits, rec_tgt, rec_mask, rec_row, rec_ptr, rec_frozen = [], [], [], [], [], []
        for k in range(max_steps):
            logits = self.step_logits(slots, pointer, h)
            gold = gold_rows[rows, row_idx]
            if multi:
                probs = torch.sigmoid(logits)
                p_sh = probs[:, SH]
                soft = (gold[:, EOA] == 0).to(probs.dtype)[:, None] * other_mask * probs
                keep = removed | (soft <= p_sh[:, None]).all(dim=1)
                target = torch.clamp(cfg.soft_target_coef * soft, max=1.0).detach() + gold
                rem = (gold[:, SH] == 1) & ~keep
                sh_soft = p_sh.detach() if cfg.detach_sh_soft_target else p_sh
                sh_target = target[:, SH] * keep.to(probs.dtype) + rem.to(probs.dtype) * sh_soft
                target = torch.cat([target[:, :SH], sh_target[:, None], target[:, SH + 1 :]], dim=1)
                # entries whose target is the model's own detached probability: zero gradient (exactly)
                frozen = (gold[:, EOA] == 0)[:, None] & other_mask.bool()
                if cfg.soft_target_coef != 1.0:  # target min(1, c*p) != p: keep the BCE gradient
                    frozen = torch.zeros_like(frozen)
                if cfg.detach_sh_soft_target:
                    frozen = torch.cat([frozen[:, :SH], rem[:, None], frozen[:, SH + 1 :]], dim=1)
            else:
                target = gold
                rem = torch.zeros(batch, dtype=torch.bool, device=device)
                frozen = torch.zeros_like(gold, dtype=torch.bool)
            in_loss = alive & (target != 0).any(dim=1)
            if multi and cfg.mask_post_eoa_rows:
                in_loss = in_loss & ~eoa_seen & (row_idx < gold_len)
            rec_logits.append(logits)
            rec_tgt.append(target)
            rec_frozen.append(frozen)
            rec_mask.append(in_loss)
            rec_row.append(row_idx)
            rec_ptr.append(pointer)
            # write Omega at the pointer's slot (a write on a padding slot vanishes), re-read around it
            write = F.one_hot(pointer, num_slots).to(slots.dtype) * slot_float
            state = state + write[..., None] * self.step_write(logits)[:, None, :]
            if cfg.sru_checkpointing and torch.is_grad_enabled():
                # keep only the state per step; recompute the positioned keys in backward (same dropout)
                h = torch.utils.checkpoint.checkpoint(self.sru, state, pointer, slot_mask, use_reentrant=False)
            else:
                h = self.sru(state, pointer, slot_mask)
            # bookkeeping for the next step
            alive = alive & (row_idx.min() < n_rows - 1)
            advance = (target[:, SH] == 1) | (target[:, EOA] == 1)
            eoa_seen = eoa_seen | (gold[:, EOA] == 1)
            row_idx = torch.clamp(row_idx + (~rem).long(), max=n_rows - 1)
            pointer = torch.clamp(pointer + advance.long(), max=num_slots - 1)
            removed = rem
            if (k + 1) % interval == 0 and not bool(alive):
                break
        logits = torch.stack(rec_logits, dim=1)
        targets = torch.stack(rec_tgt, dim=1)
        mask = torch.stack(rec_mask, dim=1)
        loss = self._loss(logits, targets, mask, torch.stack(rec_frozen, dim=1))
        return SruNerOutput(
            loss=loss, logits=logits, step_mask=mask, targets=targets,
            gold_row_index=torch.stack(rec_row, dim=1), pointer=torch.stack(rec_ptr, dim=1),
            num_steps=mask.sum(1),
        )

    def _loss(
        self, logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, frozen: torch.Tensor | None = None
    ) -> torch.Tensor:
        """§7.4: BCE-with-logits averaged over actions per row; mean over the rows in `mask`
        ("rows", reference) or per-sentence mean then mean over sentences ("sentences", paper).

        `frozen` (B, T, n_actions) marks entries whose target is the model's own detached
        probability: their gradient `sigma(u) - target` is zero in exact arithmetic; their loss term
        is detached so that it is exactly zero in floating point too (the fused BCE kernel's sigmoid
        can differ from `torch.sigmoid` in the last bit). The loss value is unchanged.
        """
        per_elem = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        if frozen is not None:
            per_elem = torch.where(frozen, per_elem.detach(), per_elem)
        per_row = per_elem.mean(-1)
        weight = mask.to(per_row.dtype)
        if self.config.loss_reduction == "sentences":
            counts = weight.sum(1)
            has = counts > 0
            per_sentence = (per_row * weight).sum(1) / counts.clamp(min=1)
            return (per_sentence * has).sum() / has.sum().clamp(min=1)
        return (per_row * weight).sum() / weight.sum().clamp(min=1)

    def _lock_step(self, slots: torch.Tensor, slot_mask: torch.Tensor) -> SruNerOutput:
        """§8.4: all sentences advance together with the exact incremental SRU. A sentence stops at
        its first argmax EOA or at its own cap `ceil(infer_step_factor * (N_b+2))`; then its pointer
        is frozen and its writes are skipped, so its steps never depend on batch peers. With
        `batch_dependent_stopping` the reference loop is used instead (§8.1)."""
        cfg = self.config
        batch, num_slots, _ = slots.shape
        device = slots.device
        rows = torch.arange(batch, device=device)
        n_slots = slot_mask.sum(1)
        if cfg.batch_dependent_stopping:
            caps = torch.full_like(n_slots, math.ceil(cfg.infer_step_factor * num_slots))
        else:
            caps = torch.ceil(cfg.infer_step_factor * n_slots.to(torch.float64)).long()
        max_steps = int(caps.max())
        cache = self.sru.start_cache(self._initial_state(slots, slot_mask))
        zeros = torch.zeros(batch, dtype=torch.long, device=device)
        h = self.sru.cache_read(cache, zeros, slot_mask)
        pointer = torch.ones(batch, dtype=torch.long, device=device)
        done = torch.zeros(batch, dtype=torch.bool, device=device)
        flagged = torch.zeros(batch, dtype=torch.bool, device=device)
        logits_out = slots.new_zeros(batch, max_steps, self.config.num_actions)
        active_out = torch.zeros(batch, max_steps, dtype=torch.bool, device=device)
        pointer_out = torch.zeros(batch, max_steps, dtype=torch.long, device=device)
        interval = 1 if device.type == "cpu" else max(1, cfg.stop_check_interval)
        steps_run = 0
        for t in range(max_steps):
            logits = self.step_logits(slots, pointer, h)
            logits_out[:, t] = logits
            pointer_out[:, t] = pointer
            top = logits.argmax(dim=-1)
            steps_run = t + 1
            if cfg.batch_dependent_stopping:
                active_out[:, t] = True
                self.sru.cache_write(cache, pointer, self.step_write(logits), slot_mask[rows, pointer])
                h = self.sru.cache_read(cache, pointer, slot_mask)
                pointer = torch.clamp(pointer + ((top == SH) | (top == EOA)).long(), max=num_slots - 1)
                flagged = flagged | (torch.sigmoid(logits[:, EOA]) > cfg.decode_threshold)
                if bool(flagged.all()):
                    break
                continue
            active = ~done
            active_out[:, t] = active
            self.sru.cache_write(cache, pointer, self.step_write(logits), active & slot_mask[rows, pointer])
            h = self.sru.cache_read(cache, pointer, slot_mask)
            advance = active & ((top == SH) | (top == EOA))
            pointer = torch.clamp(pointer + advance.long(), max=num_slots - 1)
            done = done | (top == EOA) | (t + 1 >= caps)
            if (t + 1) % interval == 0 and bool(done.all()):
                break
        active_out = active_out[:, :steps_run]
        return SruNerOutput(
            logits=logits_out[:, :steps_run], step_mask=active_out, pointer=pointer_out[:, :steps_run],
            num_steps=active_out.sum(1),
        )

    # ------------------------------------------------------------------------------------------
    # Data: collate for training, predict_spans for inference
    # ------------------------------------------------------------------------------------------
    def token_limits(self, tokenizer) -> tuple[int, int]:
        """(max sub-words per sequence incl. special tokens, sub-words available for words)."""
        return sequence_budget(tokenizer, self.config.max_tokens, self.config.encoder_config)

    def _encode(self, tokenizer, sentences: list[list[str]], max_length: int) -> dict[str, torch.Tensor]:
        """Encoder inputs + `word_index` + `slot_mask` for word lists that fit `max_length`."""
        enc = encode_words(tokenizer, sentences, max_length)
        inputs = dict(enc.inputs)
        inputs["word_index"] = slot_index(enc.first_subword, enc.last_subword, inputs["attention_mask"],
                                          enc.num_words)
        q = max(enc.num_words) + 2
        inputs["slot_mask"] = torch.arange(q)[None, :] < (torch.tensor(enc.num_words) + 2)[:, None]
        return inputs

    def collate(self, examples: list[dict], tokenizer) -> dict[str, torch.Tensor]:
        """Canonical examples -> `forward` kwargs with training targets.

        Sentences longer than the sub-word budget are split at word boundaries without cutting a gold
        mention when possible (`subwords.split_for_training`). Counted per sentence in `collate_stats`
        (data_report.py): `sentences_split`, `mentions_cut`, `crossing_mentions_dropped` (not
        representable with per-type stacks, §3.1), `overlong_words` (replaced by UNK).
        """
        cfg = self.config
        if not examples:
            raise ValueError("collate needs at least one example")
        max_len, budget = self.token_limits(tokenizer)
        type_corpus = cfg.type_dataset
        words_list, rows_list, others = [], [], []
        for k, ex in enumerate(examples):
            corpus, tokens, labelled = validate_example(ex, k, cfg.corpus_types, cfg.prefix_separator)
            key = sentence_key(ex)
            spans = validate_spans([(s, e, cfg.type_names.index(t)) for s, e, t in labelled], len(tokens),
                                   cfg.num_types)
            spans, crossing = drop_same_type_crossings(spans)
            split = fit_and_split(tokenizer, tokens, spans, budget)
            cut = split.lost
            for name, n in (("crossing_mentions_dropped", len(crossing)), ("overlong_words", split.replaced),
                            ("sentences_split", int(len(split.chunks) > 1)), ("mentions_cut", len(cut))):
                self.collate_stats.record(name, key, n)
            where = f"examples[{k}] (id={ex.get('id')!r})"
            if crossing:
                warnings.warn(f"{where}: {len(crossing)} mention(s) cross a mention of the same type and "
                              "cannot be encoded; dropped", stacklevel=2)
            if cut:
                warnings.warn(f"{where}: {len(cut)} mention(s) longer than the sub-word budget were cut",
                              stacklevel=2)
            other = torch.zeros(cfg.num_actions)
            for t, c in enumerate(type_corpus):
                if c != corpus:
                    other[2 + 2 * t] = other[3 + 2 * t] = 1.0
            for words, sp in split.pieces():
                words_list.append(words)
                rows_list.append(oracle_rows(sp, len(words)))
                others.append(other)
        batch = self._encode(tokenizer, words_list, max_len)
        n_rows = max(len(r) for r in rows_list)
        batch["gold_rows"] = torch.stack([rows_to_multihot(r, cfg.num_actions, n_rows) for r in rows_list])
        batch["gold_len"] = torch.tensor([len(r) for r in rows_list], dtype=torch.long)
        batch["other_mask"] = torch.stack(others)
        return batch

    def prepare_examples(self, examples: list[dict], tokenizer) -> list[dict]:
        """The units the trainer trains and evaluates on: with `config.sentence_merging`, consecutive
        same-document sentences packed into sequences of at most `max_tokens` sub-words (spec §9
        "maximize", on train, dev and test alike; `sru_inputs.merge_examples`); otherwise the sentences."""
        if not self.config.sentence_merging:
            return list(examples)
        return merge_examples(examples, tokenizer, self.token_limits(tokenizer)[0])

    def decode(self, output: SruNerOutput, num_words: list[int]) -> list[list[tuple[int, int, int, float]]]:
        """Spans `(start, end, type_id, score)` per sentence from a lock-step `forward` output (§8.2)."""
        probs = torch.sigmoid(output.logits.float()).cpu()
        steps = output.num_steps.cpu().tolist()
        return [
            decode_step_probabilities(probs[b, : steps[b]], n, self.config.decode_threshold,
                                      self.config.strict_last_word_bound)
            for b, n in enumerate(num_words)
        ]

    @staticmethod
    def hit_step_cap(output: SruNerOutput) -> list[bool]:
        """Per sequence of a lock-step output: whether it reached its step cap before an argmax EOA
        (mentions after the cap are lost)."""
        top = output.logits.argmax(-1).cpu()
        steps = output.num_steps.cpu().tolist()
        return [not bool((top[b, : steps[b]] == EOA).any()) for b in range(top.shape[0])]

    def predict_spans(self, sentences: list[list[str]], tokenizer, batch_size: int = 32) -> list[list[dict]]:
        """Per sentence, `[{"start", "end", "label", "score"}, ...]` sorted by (start, -end, label).

        Sentences longer than the encoder limit are predicted over overlapping windows and stitched
        (`subwords.predict_in_windows`); counted in `predict_stats` with the sentences that reached the
        step cap. Units are length-sorted into batches; each sentence's result does not depend on its
        peers. The model's train/eval mode is left as it was.
        """
        max_len, budget = self.token_limits(tokenizer)
        names = self.config.type_names
        capped_sentences: set[int] = set()

        def predict_batch(words_batch: list[list[str]], sentence_ids: list[int]) -> list[list[dict]]:
            batch = {k: v.to(self.device) for k, v in self._encode(tokenizer, words_batch, max_len).items()}
            out = self(**batch)
            capped_sentences.update(i for i, capped in zip(sentence_ids, self.hit_step_cap(out)) if capped)
            return [[{"start": s, "end": e, "label": names[t], "score": float(sc)} for s, e, t, sc in found]
                    for found in self.decode(out, [len(w) for w in words_batch])]

        with self.inference():
            results = predict_in_windows(sentences, tokenizer, budget, self.config.window_overlap, batch_size,
                                         predict_batch, self.predict_stats)
        # once per sentence of this call (a windowed sentence counts once, whatever its windows did)
        capped = len(capped_sentences)
        self.predict_stats["sentences_hit_step_cap"] += capped
        if capped:
            warnings.warn(f"{capped} sentence(s) reached the step cap (infer_step_factor="
                          f"{self.config.infer_step_factor}) before EOA; their later mentions may be missing",
                          stacklevel=2)
        return results


class SruNerForTokenClassification(SruNerPreTrainedModel):
    """What `AutoModelForTokenClassification` finds in an SRU-NER checkpoint: a clear error, because
    the transition-based decoder has no per-token logits. Loading or building it raises ValueError
    naming the supported classes."""

    @staticmethod
    def _unsupported() -> ValueError:
        return ValueError(no_token_logits_message(
            "SruNerForTokenActions", "SRU-NER, a transition-based (nested) NER model,",
            {"AutoModel": "SruNerForTokenActions", "AutoConfig": "SruNerConfig"}))

    def __init__(self, config: SruNerConfig, *args, **kwargs):
        raise self._unsupported()

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        raise cls._unsupported()


SruNerForTokenActions.register_for_auto_class("AutoModel")
#: the class behind AutoModelForTokenClassification in saved checkpoints (see trainer/export.py)
SruNerForTokenActions.token_classification_class = SruNerForTokenClassification
