"""The networks: a small MLP (default) and a small LSTM/GRU, built from a JSON description.

The description (`Architecture.to_dict()`) is stored with the weights, so the trainer
subprocess, the evaluator and live inference build the same network from the artifact alone.
This module imports torch and nothing from Django.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

KINDS = ("mlp", "lstm", "gru")


@dataclass(frozen=True)
class Architecture:
    """Shape of a network: kind, inputs per step, sequence length, hidden size, outputs."""

    kind: str
    features: int
    outputs: int  # 3 classes, or 1 regression value
    hidden: int = 64
    layers: int = 2
    dropout: float = 0.1
    sequence_length: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Architecture:
        return cls(**data)


class MLP(nn.Module):
    """Feed-forward net over one feature row: Linear-GELU-Dropout blocks, then a linear head."""

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = arch.features
        for _ in range(arch.layers):
            blocks += [nn.Linear(width, arch.hidden), nn.GELU(), nn.Dropout(arch.dropout)]
            width = arch.hidden
        blocks.append(nn.Linear(width, arch.outputs))
        self.net = nn.Sequential(*blocks)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.net(inputs)


class Recurrent(nn.Module):
    """LSTM or GRU over the last `sequence_length` feature rows; the head reads the last state."""

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        cell = nn.LSTM if arch.kind == "lstm" else nn.GRU
        self.rnn = cell(arch.features, arch.hidden, num_layers=arch.layers, batch_first=True,
                        dropout=arch.dropout if arch.layers > 1 else 0.0)
        self.head = nn.Linear(arch.hidden, arch.outputs)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        states, _ = self.rnn(inputs)
        return self.head(states[:, -1, :])


def build_network(arch: Architecture) -> nn.Module:
    """A freshly initialised network of `arch` (seed torch first for reproducible weights)."""
    if arch.kind == "mlp":
        return MLP(arch)
    if arch.kind in ("lstm", "gru"):
        return Recurrent(arch)
    raise ValueError(f"unknown network kind {arch.kind!r}; known: {', '.join(KINDS)}")


def make_deterministic(seed: int, threads: int) -> None:
    """Same seed, same threads, same machine: the same weights and metrics, bit for bit."""
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
