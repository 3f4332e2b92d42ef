"""Ground truth: the true value of any policy, to check every off-policy estimate against reality.

``Simulator`` rebuilds the world of a ``SimConfig`` and, from the hidden short-term interests the
log writer stored (``truth_dir/requests.parquet``), recomputes R(x, a, k) for every logged request.
``true_value`` turns those into the per-decision value of a policy; ``online_value`` rolls a policy
out in the gymnasium environment, where its slates also change the users' future interests.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from recrl.config import SimConfig
from recrl.simulate import dynamics
from recrl.simulate.env import EcommerceEnv
from recrl.simulate.logging_policy import sample_slates
from recrl.simulate.world import build_world

PolicyFn = Callable[[list[list[str]], list[list[int]]], np.ndarray]
"""``policy_fn(history_item_ids, history_types) -> (B, n_items)`` item probabilities (rows sum to 1)."""


class Simulator:
    """The world of ``config`` (same seed, same catalogue and users) and its expected rewards."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.world = build_world(config)
        self._user_index = {user_id: i for i, user_id in enumerate(self.world.user_ids)}

    @property
    def item_ids(self) -> list[str]:
        return list(self.world.item_ids)

    def items_table(self) -> pa.Table:
        """item_id, title, category of every item (``recrl.schema.ITEM_SCHEMA``)."""
        return self.world.items_table()

    def expected_rewards(
        self,
        truth_dir: Path,
        request_ids: np.ndarray,
        reward_click: float = 0.2,
        reward_purchase: float = 1.0,
    ) -> np.ndarray:
        """(B, n_items, K) R(x_b, a, k) for the logged requests ``request_ids`` (B,), items in ``item_ids`` order.

        R(x, a, k) = position_bias[k] r(x, a) (w_click + w_purchase P(purchase | click, x, a)),
        with x = (user, h at the time of the request) read from ``truth_dir/requests.parquet``.
        """
        path = Path(truth_dir) / "requests.parquet"
        if not path.is_file():
            raise FileNotFoundError(f"truth_dir has no requests.parquet (write it with write_logs): {path}")
        wanted = pl.DataFrame(
            {"request_id": np.asarray(request_ids, dtype=object)}, schema={"request_id": pl.String}
        )
        if wanted["request_id"].null_count():
            raise ValueError("request_ids must not contain nulls")
        found = (
            wanted.with_row_index("order")
            .join(pl.read_parquet(path), on="request_id", how="left")
            .sort("order")
        )
        missing = found.filter(pl.col("user_id").is_null())["request_id"]
        if len(missing):
            raise ValueError(f"{len(missing)} request_ids are not in {path}, e.g. {missing[0]!r}")
        unknown_users = set(found["user_id"].unique()) - set(self._user_index)
        if unknown_users:
            raise ValueError(
                f"{path} holds users this SimConfig does not have (another seed?): {sorted(unknown_users)[:3]}"
            )
        users = np.array([self._user_index[u] for u in found["user_id"]], dtype=np.int64)  # (B,)
        h_columns = [f"h_{j}" for j in range(self.config.latent_dim)]
        if not set(h_columns) <= set(found.columns):
            raise ValueError(
                f"{path} lacks interest columns h_0..h_{self.config.latent_dim - 1} (another latent_dim?)"
            )
        interest = found.select(h_columns).to_numpy().astype(np.float64)  # (B, d)
        return dynamics.expected_rewards(self.world, users, interest, reward_click, reward_purchase)


def true_value(expected_rewards: np.ndarray, position_probs: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """(B,) V_b = sum_a pi(a | x_b, k_b) R(x_b, a, k_b): a policy's true value at each logged decision.

    This is exactly the estimand of per-position IPS / DR on the same rows: for a logged decision
    (x_b, k_b), E_beta[pi(a|x,k)/beta(a|x,k) r] = sum_a pi(a|x,k) R(x,a,k). So mean(true_value)
    compares 1:1 with an off-policy estimate over the same decisions.

    Parameters
    ----------
    expected_rewards : (B, n_items, K) R from ``Simulator.expected_rewards``.
    position_probs : (B, n_items, K) pi(a | x_b, k), e.g. Plackett-Luce marginals of the policy.
    positions : (B,) the logged position k_b of each decision.
    """
    rewards = np.asarray(expected_rewards, dtype=np.float64)
    probs = np.asarray(position_probs, dtype=np.float64)
    positions = np.asarray(positions)
    if rewards.ndim != 3 or probs.shape != rewards.shape:
        raise ValueError(
            f"expected_rewards and position_probs must both be (B, n_items, K), got {rewards.shape} and {probs.shape}"
        )
    if positions.shape != (rewards.shape[0],) or not np.issubdtype(positions.dtype, np.integer):
        raise ValueError(
            f"positions must be (B,) = ({rewards.shape[0]},) integers, got {positions.shape} {positions.dtype}"
        )
    if np.any((positions < 0) | (positions >= rewards.shape[2])):
        raise ValueError(f"positions must be in [0, {rewards.shape[2] - 1}]")
    rows = np.arange(rewards.shape[0])
    return np.einsum("ba,ba->b", probs[rows, :, positions], rewards[rows, :, positions])


def online_value(
    policy_fn: PolicyFn,
    config: SimConfig,
    n_sessions: int,
    seed: int,
    reward_click: float = 0.2,
    reward_purchase: float = 1.0,
    batch_size: int = 256,
) -> tuple[float, float]:
    """Monte Carlo value of ``policy_fn`` served on whole sessions of ``EcommerceEnv``.

    ``batch_size`` sessions run side by side; at each step ``policy_fn`` gets every live session's
    observable history (item ids and ``HISTORY_TYPE_CODE`` types, oldest first) and returns item
    probabilities; slates are Plackett-Luce draws from them. Users' clicks change their interest,
    so a policy's effect on later requests counts. The reward of each shown item is its expected
    reward R(x, a, k) given the realised state (same mean as the realised reward, less noise).
    Each session is a uniformly drawn user starting fresh (h = 0, empty history), so values are
    lower than on the logged contexts, where interest carries over from earlier sessions.

    Returns
    -------
    (mean reward per impression, mean reward per session)
    """
    if n_sessions < 1:
        raise ValueError(f"n_sessions must be >= 1, got {n_sessions}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    world = build_world(config)
    seeds = np.random.SeedSequence([seed, 2]).generate_state(n_sessions + 1, dtype=np.uint32)
    rng = np.random.default_rng(int(seeds[-1]))
    total_reward, total_impressions = 0.0, 0
    for start in range(0, n_sessions, batch_size):
        envs = [
            EcommerceEnv(config, reward_click=reward_click, reward_purchase=reward_purchase, world=world)
            for _ in range(min(batch_size, n_sessions - start))
        ]
        for env, session_seed in zip(envs, seeds[start : start + len(envs)], strict=True):
            env.reset(seed=int(session_seed))
        live = list(envs)
        while live:
            histories = [env.history() for env in live]
            probs = np.asarray(
                policy_fn([h[0] for h in histories], [h[1] for h in histories]), dtype=np.float64
            )
            if probs.shape != (len(live), world.n_items):
                raise ValueError(
                    f"policy_fn must return ({len(live)}, {world.n_items}) probabilities, got {probs.shape}"
                )
            if np.any(probs < 0) or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-6):
                raise ValueError("policy_fn must return non-negative probabilities whose rows sum to 1")
            slates = sample_slates(rng, probs, config.slate_size)  # (B, K)
            still_live = []
            for env, slate in zip(live, slates, strict=True):
                _, _, terminated, truncated, info = env.step(slate)
                total_reward += float(info["expected_reward"].sum())
                total_impressions += config.slate_size
                if not (terminated or truncated):
                    still_live.append(env)
            live = still_live
    return total_reward / total_impressions, total_reward / n_sessions
