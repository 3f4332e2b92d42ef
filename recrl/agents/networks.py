"""The actor-critic's networks: pure modules (no I/O, no training code).

A user's state is their last N feedback events. ``StateEncoder`` reads them with a Hugging Face
``BertModel`` built from a ``BertConfig`` in code (nothing is downloaded): item indices are the word
ids, event types (click / cart / purchase) the token-type ids, and a learned [CLS] token prepended to
the history carries the state summary. Heads on top:

- actor:     logits over the vocabulary, tied to the item embeddings (score = <s, e_a> + b_a);
- critic:    twin Q(s, a, k) = <g_i(s), sg(e_a)> + b_a + c_k over the (stop-gradient) item embeddings,
             so values generalise to rarely shown items (double Q-learning, Xin et al. 2020);
- behaviour: beta(a | s) on a *detached* state, for logs without propensities (Chen et al. 2019).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from transformers import BertConfig, BertModel

from recrl.config import AgentConfig, SequentialConfig
from recrl.policies import N_RESERVED, plackett_luce_slot_marginals
from recrl.schema import HISTORY_TYPE_CODE


@dataclass(frozen=True)
class NetworkShape:
    """What the networks' tensor shapes depend on; saved with every checkpoint."""

    n_items: int
    """Vocabulary size V (indices 0 = padding and 1 = unknown included)."""
    history_len: int
    """N: history events per state."""
    slate_size: int
    """K: positions per slate (critic position offsets)."""


EncoderSettings = AgentConfig | SequentialConfig
"""Either config: both carry the encoder's hidden_size, num_layers, num_heads, intermediate_size, dropout."""


class StateEncoder(nn.Module):
    """History (B, N) -> state vector (B, H) with a small BERT."""

    def __init__(self, shape: NetworkShape, config: EncoderSettings) -> None:
        super().__init__()
        self.cls_index = shape.n_items  # one extra word id after the vocabulary
        bert_config = BertConfig(
            vocab_size=shape.n_items + 1,
            hidden_size=config.hidden_size,
            num_hidden_layers=config.num_layers,
            num_attention_heads=config.num_heads,
            intermediate_size=config.intermediate_size,
            hidden_dropout_prob=config.dropout,
            attention_probs_dropout_prob=config.dropout,
            max_position_embeddings=shape.history_len + 1,
            type_vocab_size=len(HISTORY_TYPE_CODE) + 1,
            pad_token_id=0,
        )
        self.bert = BertModel(bert_config, add_pooling_layer=False)

    @property
    def item_embeddings(self) -> torch.Tensor:
        """(V, H) input embeddings of the vocabulary (without the [CLS] row)."""
        return self.bert.embeddings.word_embeddings.weight[: self.cls_index]

    def forward(self, history_items: torch.Tensor, history_types: torch.Tensor) -> torch.Tensor:
        batch_size = history_items.shape[0]
        cls = torch.full((batch_size, 1), self.cls_index, dtype=torch.long, device=history_items.device)
        input_ids = torch.cat([cls, history_items], dim=1)  # (B, N+1)
        token_types = torch.cat([torch.zeros_like(cls), history_types], dim=1)  # (B, N+1)
        attention_mask = (input_ids != 0).long()  # padding is not attended; [CLS] always is
        hidden = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_types
        ).last_hidden_state  # (B, N+1, H)
        return hidden[:, 0]  # (B, H)


class ActorCritic(nn.Module):
    """Encoder + actor + twin critics + behaviour head."""

    def __init__(self, shape: NetworkShape, config: AgentConfig) -> None:
        super().__init__()
        self.shape = shape
        hidden = config.hidden_size
        self.encoder = StateEncoder(shape, config)
        self.actor_proj = nn.Linear(hidden, hidden)
        self.actor_bias = nn.Parameter(torch.zeros(shape.n_items))
        self.q_proj = nn.ModuleList([nn.Linear(hidden, hidden) for _ in range(2)])
        self.q_bias = nn.Parameter(torch.zeros(2, shape.n_items))
        self.q_position = nn.Parameter(torch.zeros(2, shape.slate_size))
        self.behaviour = nn.Linear(hidden, shape.n_items)
        # alpha of the residual actor over a CF prior (recrl.agents.prior); absent without a prior, so
        # checkpoints from before the prior load unchanged.
        self.prior_weight = nn.Parameter(torch.tensor(float(config.prior_weight))) if config.prior != "none" else None
        reserved = torch.zeros(shape.n_items, dtype=torch.bool)
        reserved[:N_RESERVED] = True
        self.register_buffer("reserved", reserved, persistent=False)

    def encode(self, history_items: torch.Tensor, history_types: torch.Tensor) -> torch.Tensor:
        return self.encoder(history_items, history_types)  # (B, H)

    def actor_logits(self, state: torch.Tensor, prior_z: torch.Tensor | None = None) -> torch.Tensor:
        """(B, V) f_theta(s, .) + alpha prior_z, prior_z (B, V) the standardised prior scores (with a prior)."""
        logits = self.actor_proj(state) @ self.encoder.item_embeddings.T + self.actor_bias  # (B, V)
        if (prior_z is None) != (self.prior_weight is None):
            raise ValueError("prior_z is needed exactly when the model has a prior (AgentConfig.prior)")
        if prior_z is not None:
            logits = logits + self.prior_weight * prior_z
        return logits.masked_fill(self.reserved, float("-inf"))

    def item_logits(self, history_items: torch.Tensor, history_types: torch.Tensor,
                    prior_z: torch.Tensor | None = None) -> torch.Tensor:
        """(B, V) the served policy's logits: the actor's."""
        return self.actor_logits(self.encode(history_items, history_types), prior_z)

    def q_values(self, state: torch.Tensor, which: int) -> torch.Tensor:
        """(B, V, K) Q(s, a, k) of critic ``which`` (0 or 1)."""
        # The critic reads the item embeddings but does not shape them: they also score the actor's
        # softmax, and critic gradients (negatives regressed to 0) there cut the actor's true value
        # from 0.087 to 0.047 on the default world.
        item_embeddings = self.encoder.item_embeddings.detach()
        q_item = self.q_proj[which](state) @ item_embeddings.T + self.q_bias[which]  # (B, V)
        return q_item[:, :, None] + self.q_position[which][None, None, :]

    def behaviour_logits(self, state: torch.Tensor) -> torch.Tensor:
        """(B, V) logits of beta(a | s); the state is detached so beta does not shape the encoder."""
        logits = self.behaviour(state.detach())
        return logits.masked_fill(self.reserved, float("-inf"))


class SequentialRecommender(nn.Module):
    """SASRec-style supervised next-item model (Kang & McAuley, ICDM 2018) on the same encoder: the
    state scores every item by <W s, e_a> + b_a over the tied item embeddings, as the actor does."""

    def __init__(self, shape: NetworkShape, config: EncoderSettings) -> None:
        super().__init__()
        self.shape = shape
        self.encoder = StateEncoder(shape, config)
        self.proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.bias = nn.Parameter(torch.zeros(shape.n_items))
        reserved = torch.zeros(shape.n_items, dtype=torch.bool)
        reserved[:N_RESERVED] = True
        self.register_buffer("reserved", reserved, persistent=False)

    def item_logits(self, history_items: torch.Tensor, history_types: torch.Tensor) -> torch.Tensor:
        state = self.encoder(history_items, history_types)  # (B, H)
        logits = self.proj(state) @ self.encoder.item_embeddings.T + self.bias  # (B, V)
        return logits.masked_fill(self.reserved, float("-inf"))


def plackett_luce_marginal_at(probs: torch.Tensor, action: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
    """(B,) P(action at position) under a Plackett-Luce slate from ``probs`` (B, V), no gradient.

    ``recrl.policies.plackett_luce_slot_marginals`` (the one implementation, with its slot check) read at
    the logged (action, position), so the importance ratio compares the same event as the logged
    propensity; computed in float64 on the CPU and returned on ``probs``' device and dtype.
    """
    slots = position.detach().cpu().numpy()
    at_slot = plackett_luce_slot_marginals(probs.detach().cpu().double().numpy(), slots)  # (B, V)
    picked = at_slot[np.arange(len(slots)), action.detach().cpu().numpy()]
    return torch.as_tensor(picked, device=probs.device, dtype=probs.dtype)
