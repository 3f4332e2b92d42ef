"""Named simulated worlds that differ in structure, not only in seed: tune on some, report on others.

Each ``Scenario`` is a set of ``SimConfig`` overrides plus the reward weights its states are built
with (a purchase-heavy shop is scored with a higher purchase weight). Sizes (users, days) are left to
the caller (``bench/quality.py`` sets them), so one scenario can be run small in tests and larger in
the suite. What each world is for, and its measured uniform / logging / oracle values and sequential
signal, are in ``docs/scenarios.md``.

    scenario("sequential").sim_config(seed=21, n_users=1500, n_days=5)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from recrl.config import PipelineConfig, SimConfig, StatesConfig

TUNE_SEEDS: tuple[int, ...] = (11, 12)
"""Seeds to choose settings on (never reported as results)."""
REPORT_SEEDS: tuple[int, ...] = (41, 42, 43)
"""Held-out seeds: the only ones whose numbers are reported."""
SPENT_SEEDS: tuple[int, ...] = (21, 22, 23, 31, 32, 33)
"""Former report seeds, retired once their results had informed a default (21-23: the serving-temperature
rule; 31-33: the greedy slate as the grid's sharpest point; docs/agent.md): never report seeds again,
never tune seeds."""


@dataclass(frozen=True)
class Scenario:
    """A simulated world: SimConfig overrides and the reward weights of its states."""

    name: str
    description: str
    """One line: what structure this world has and what it tests."""
    sim: Mapping[str, Any] = field(default_factory=dict)
    """SimConfig fields that differ from the defaults (never ``seed``)."""
    reward_click: float = 0.2
    """StatesConfig.reward_click of this world."""
    reward_purchase: float = 1.0
    """StatesConfig.reward_purchase of this world."""

    def __post_init__(self) -> None:
        bad = (set(self.sim) - set(vars(SimConfig()))) | ({"seed"} & set(self.sim))
        if bad:
            raise ValueError(f"scenario {self.name!r}: not SimConfig structure fields: {sorted(bad)}")
        object.__setattr__(self, "sim", MappingProxyType(dict(self.sim)))

    def sim_config(self, seed: int, **sizes: Any) -> SimConfig:
        """The world of ``seed``; ``sizes`` (e.g. n_users, n_days) override everything but the structure."""
        clash = set(sizes) & set(self.sim)
        if clash:
            raise ValueError(f"scenario {self.name!r} fixes {sorted(clash)}: it is part of its structure")
        return SimConfig(**{**self.sim, **sizes, "seed": seed})

    def pipeline_config(
        self, seed: int, data_root: str | Path, sizes: Mapping[str, Any] | None = None, **sections: Any
    ) -> PipelineConfig:
        """A simulator-sourced PipelineConfig of this world, its reward weights in the states.

        ``sizes`` go to ``sim_config``; ``sections`` are other PipelineConfig sections (agent, eval, ...).
        """
        if {"sim", "states", "source", "data_root"} & set(sections):
            raise ValueError("sim, states, source and data_root come from the scenario")
        return PipelineConfig(
            data_root=str(data_root),
            source="simulator",
            sim=self.sim_config(seed, **dict(sizes or {})),
            states=StatesConfig(reward_click=self.reward_click, reward_purchase=self.reward_purchase),
            **sections,
        )


_SCENARIOS = (
    Scenario("default", "today's world: popularity + last-category logger, EMA short-term interest"),
    Scenario(
        "popularity-logger",
        "the default users logged by a context-free popularity policy (no last-category bonus)",
        {"logging_category_bonus": 0.0},
    ),
    Scenario(
        "sequential",
        "the issue-11 shop: 300 items, slates of 3, context-free logger; intent = the last clicked "
        "item's vector (history_decay 0) and it outweighs long-term taste",
        {"n_items": 300, "logging_category_bonus": 0.0, "history_decay": 0.0, "history_weight": 2.5},
    ),
    Scenario(
        "long-term",
        "long-term taste dominates: weak, slow short-term interest (weak sequential signal)",
        {"history_weight": 0.2, "history_decay": 0.9},
    ),
    Scenario(
        "large-catalogue",
        "5,000 items in 12 categories: sparse per-item data, a large action space",
        {"n_items": 5000, "n_categories": 12},
    ),
    Scenario(
        "purchase-heavy",
        "purchases much likelier after a click and driven by taste; clicks worth little",
        {"purchase_bias": 1.5, "purchase_taste_weight": 1.0, "purchase_price_weight": 0.5},
        reward_click=0.05,
        reward_purchase=1.0,
    ),
    Scenario(
        "wide-slate",
        "slates of 5 (propensities from the integral Plackett-Luce marginals)",
        {"slate_size": 5, "position_bias": (1.0, 0.8, 0.65, 0.5, 0.4)},
    ),
    Scenario(
        "cold-start",
        "the default world whose 20 newest items (titles, no history) are offered on the test day only",
        {"cold_start_items": 20},
    ),
)

SCENARIOS: Mapping[str, Scenario] = MappingProxyType({s.name: s for s in _SCENARIOS})
"""Every named scenario, by name."""


def scenario(name: str) -> Scenario:
    """The scenario called ``name``; a ValueError lists the known names."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    return SCENARIOS[name]
