"""The grounding network: a BERT encoder with a span head and a support head."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class HeadsConfig:
    hidden_size: int = 384


class GroundingNet(nn.Module):
    """``encoder`` (a transformers BERT, possibly wrapped by peft) plus two small heads.

    - ``qa``: per-token start/end logits; position 0 ([CLS]) is "no answer".
    - ``support``: one logit from the [CLS] state: the passage answers the question (or supports the claim).
    """

    def __init__(self, encoder: nn.Module, config: HeadsConfig) -> None:
        super().__init__()
        self.encoder = encoder
        self.qa = nn.Linear(config.hidden_size, 2)
        self.support = nn.Linear(config.hidden_size, 1)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hidden = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state  # (B, T, H)
        logits = self.qa(hidden).float()  # (B, T, 2)
        pad = attention_mask == 0
        start = logits[..., 0].masked_fill(pad, -1e4)  # (B, T)
        end = logits[..., 1].masked_fill(pad, -1e4)  # (B, T)
        support = self.support(hidden[:, 0]).float().squeeze(-1)  # (B,)
        return start, end, support


def pad_batch(
    ids: list[list[int]], types: list[list[int]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-pads windows to the longest in the batch: (input_ids, attention_mask, token_type_ids), each (B, T)."""
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    token_types = torch.zeros((len(ids), width), dtype=torch.long)
    for row, (x, t) in enumerate(zip(ids, types, strict=True)):
        input_ids[row, : len(x)] = torch.tensor(x)
        mask[row, : len(x)] = 1
        token_types[row, : len(t)] = torch.tensor(t)
    return input_ids, mask, token_types
