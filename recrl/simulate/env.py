"""``EcommerceEnv``: one simulated shopping session as a gymnasium environment.

An episode is one session of one user. The agent shows a slate of K distinct item indices per step;
the user clicks and buys through ``recrl.simulate.dynamics`` (the same code that writes the logs),
their short-term interest follows their clicks, and the session ends with the stop probability of
``dynamics.continue_probability``. The observation is only what a recommender could log: the
user's last ``history_len`` clicked/purchased items and their event types.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from recrl.config import SimConfig
from recrl.schema import HISTORY_TYPE_CODE
from recrl.simulate import dynamics
from recrl.simulate.world import World, build_world


class SlateSpace(spaces.MultiDiscrete):
    """K distinct indices out of ``n_items``: a MultiDiscrete that samples without replacement."""

    def __init__(self, n_items: int, slate_size: int, seed: int | None = None) -> None:
        super().__init__(np.full(slate_size, n_items, dtype=np.int64), seed=seed)
        self.n_items = n_items
        self.slate_size = slate_size

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        if mask is not None or probability is not None:
            raise ValueError("SlateSpace.sample takes no mask or probability")
        return self.np_random.choice(self.n_items, size=self.slate_size, replace=False).astype(np.int64)

    def contains(self, x: Any) -> bool:
        return bool(super().contains(x)) and len(np.unique(np.asarray(x))) == self.slate_size


class EcommerceEnv(gymnasium.Env):
    """A session of the simulated shop.

    observation : dict ``items`` (history_len,) int64 item index + 1 (0 = padding) and ``types``
        (history_len,) int64 ``HISTORY_TYPE_CODE`` (0 = padding), oldest first, left-padded.
    action : (K,) distinct item indices, position 0 first.
    reward : w_click * clicks + w_purchase * purchases of the slate.
    info : ``clicks`` and ``purchases`` (K,) bool per position, ``expected_reward`` (K,) R(x, a_k, k)
        at the state the slate was shown in, ``user_id``.
    reset options : ``user`` (int index) to pick the user; ``interest`` (d,) to start from a given h.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        config: SimConfig | None = None,
        reward_click: float = 0.2,
        reward_purchase: float = 1.0,
        history_len: int = 10,
        max_requests: int = 200,
        world: World | None = None,
    ) -> None:
        config = config or SimConfig()
        if history_len < 1 or max_requests < 1:
            raise ValueError(f"history_len and max_requests must be >= 1, got {history_len}, {max_requests}")
        self.world = world if world is not None and world.config == config else build_world(config)
        self.config = config
        self.reward_click = reward_click
        self.reward_purchase = reward_purchase
        self.history_len = history_len
        self.max_requests = max_requests
        n_types = max(HISTORY_TYPE_CODE.values()) + 1
        self.observation_space = spaces.Dict(
            {
                "items": spaces.MultiDiscrete(np.full(history_len, self.world.n_items + 1, dtype=np.int64)),
                "types": spaces.MultiDiscrete(np.full(history_len, n_types, dtype=np.int64)),
            }
        )
        self.action_space = SlateSpace(self.world.n_items, config.slate_size)
        self._user = 0
        self._interest = np.zeros(config.latent_dim)
        self._history: deque[tuple[int, int]] = deque(maxlen=history_len)
        self._requests = 0

    def _observation(self) -> dict[str, np.ndarray]:
        items = np.zeros(self.history_len, dtype=np.int64)
        types = np.zeros(self.history_len, dtype=np.int64)
        n = len(self._history)
        if n:
            items[-n:] = [item + 1 for item, _ in self._history]
            types[-n:] = [code for _, code in self._history]
        return {"items": items, "types": types}

    def history(self) -> tuple[list[str], list[int]]:
        """The observable history as (item ids, type codes), oldest first: ``online_value``'s input."""
        return [self.world.item_ids[item] for item, _ in self._history], [code for _, code in self._history]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        user = options.get("user", self.np_random.integers(self.world.n_users))
        if not 0 <= int(user) < self.world.n_users:
            raise ValueError(f"options['user'] must be in [0, {self.world.n_users - 1}], got {user}")
        self._user = int(user)
        interest = np.asarray(options.get("interest", np.zeros(self.config.latent_dim)), dtype=np.float64)
        if interest.shape != (self.config.latent_dim,):
            raise ValueError(
                f"options['interest'] must have shape ({self.config.latent_dim},), got {interest.shape}"
            )
        self._interest = interest.copy()
        self._history.clear()
        self._requests = 0
        return self._observation(), {"user_id": self.world.user_ids[self._user]}

    def step(self, action):
        slate = np.asarray(action)
        if slate.shape != (self.config.slate_size,) or not np.issubdtype(slate.dtype, np.integer):
            raise ValueError(
                f"action must be ({self.config.slate_size},) integer item indices, got {slate.shape} {slate.dtype}"
            )
        if not self.action_space.contains(slate.astype(np.int64)):
            raise ValueError(
                f"action must hold distinct item indices in [0, {self.world.n_items - 1}], got {slate}"
            )
        users = np.array([self._user])
        interest = self._interest[None, :]  # (1, d)
        slates = slate[None, :].astype(np.int64)  # (1, K)
        rewards = dynamics.expected_rewards(
            self.world, users, interest, self.reward_click, self.reward_purchase
        )
        expected = rewards[0, slates[0], np.arange(self.config.slate_size)]  # (K,)
        clicks, purchases = dynamics.respond(self.world, self.np_random, users, interest, slates)
        self._interest = dynamics.update_interest(self.world, interest, slates, clicks)[0]
        for k in np.flatnonzero(clicks[0]):
            self._history.append((int(slate[k]), HISTORY_TYPE_CODE["click"]))
        for k in np.flatnonzero(purchases[0]):
            self._history.append((int(slate[k]), HISTORY_TYPE_CODE["purchase"]))
        self._requests += 1
        reward = float(self.reward_click * clicks.sum() + self.reward_purchase * purchases.sum())
        terminated = bool(
            self.np_random.random() >= dynamics.continue_probability(self.world, clicks.any(axis=1))[0]
        )
        truncated = not terminated and self._requests >= self.max_requests
        info = {
            "clicks": clicks[0],
            "purchases": purchases[0],
            "expected_reward": expected,
            "user_id": self.world.user_ids[self._user],
        }
        return self._observation(), reward, terminated, truncated, info
