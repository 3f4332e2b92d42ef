"""Evaluation stage: every policy on the held-out test days, written to the warehouse.

Reads ``{data}/states`` (vocabulary, transitions), the actor-critic checkpoint and, for simulated logs,
``{data}/truth``. Policies: the actor-critic, the text agent (where the lake's items have titles), the
popularity and CF baselines (fitted on the train split), the logging policy as logged, and (simulator)
the oracle; with ``coordinator.enabled`` also the click / purchase specialists (when trained), the
exploration agent and the team that fuses every agent (``recrl.agents.coordinator``: weights and fusion
chosen on valid, rows of ``agent_weights``). Each learned policy's temperature is chosen on the valid
split (``EvalConfig.temperature_rule``, ``recrl.evaluate.offpolicy.choose_temperature``); only test-split numbers
are reported.

Decisions are the impressions (``kind = 'bandit'``) where the log has any on the test days, else the
implicit steps (``kind = 'sequence'``: the next item interacted with, see docs/ope.md). Propensities
are the logged ones or a behaviour model's (``recrl.evaluate.behaviour``), per ``EvalConfig.propensity``;
every estimate row says which (``propensity_source``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import typing
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pyarrow as pa
from tqdm.auto import tqdm

from recrl.agents.actor_critic import ActorCriticPolicy, load_checkpoint
from recrl.agents.coordinator import Team, ValidDays, choice_rows, choose_team, user_folds
from recrl.agents.protocol import ActorCriticAgent, BaselineAgent, ExplorationAgent, SequentialAgent
from recrl.agents.sequential import CHECKPOINT_FILE as SEQUENTIAL_CHECKPOINT
from recrl.agents.sequential import SequentialPolicy, load_sequential
from recrl.agents.specialists import load_specialists
from recrl.agents.text import TextAgent, TextPolicy, TextTeamPolicy, build_text_policies, save_text_policy
from recrl.baselines import (
    ItemKNNPolicy,
    PopularityPolicy,
    PureSVDPolicy,
    fit_baselines,
    interactions_from_transitions,
)
from recrl.baselines.store import baseline_config, save_baseline
from recrl.config import EvalConfig, PipelineConfig, PropensityChoice
from recrl.evaluate.behaviour import behaviour_report, fit_behaviour
from recrl.evaluate.offpolicy import (
    RewardFeatures,
    choose_temperature,
    evaluate_policy,
    fit_reward_model,
    score_states,
    simulator_truth,
)
from recrl.lake import DataLayout
from recrl.ope import estimate
from recrl.ope.rows import estimate_rows as rows_of
from recrl.policies import slate_size_of
from recrl.simulate.truth import Simulator
from recrl.states.export import TransitionArrays, load_transitions, to_arrays
from recrl.states.vocab import load_vocab

log = logging.getLogger(__name__)
PROPENSITY_CHOICES = typing.get_args(PropensityChoice)


def evaluate_run(layout: DataLayout, config: PipelineConfig, run_id: str, checkpoint: str) -> dict[str, pl.DataFrame]:
    """Rows of ``policies``, ``ope_estimates``, ``ranking_metrics`` and ``behaviour_model`` for one run
    (not yet written)."""
    vocab = load_vocab(layout)
    history_len = config.states.history_len
    train_table = load_transitions(layout, "train")
    decisions = decision_kind(load_transitions(layout, "test"))
    valid_table = load_transitions(layout, "valid", kind=decisions)
    valid = to_arrays(valid_table, history_len)
    test = to_arrays(load_transitions(layout, "test", kind=decisions), history_len)
    if len(valid) == 0 or len(test) == 0:
        raise ValueError(f"evaluation needs {decisions} decisions on the valid and test days "
                         f"(valid: {len(valid)}, test: {len(test)}); check StatesConfig.valid_days / test_days")
    slate_size = slate_size_of(test.position)
    train_kind_table = load_transitions(layout, "train", kind=decisions)
    train_kind = to_arrays(train_kind_table, history_len)
    source = propensity_source(config.eval.propensity, valid, test)
    valid, test, behaviour_rows = with_propensities(source, train_kind, valid, test, vocab.size, slate_size,
                                                    config.eval.seed)
    log.info("evaluation: %d %s test decisions, %s propensities", len(test), decisions, source)

    coordinator = config.coordinator
    # The coordinator chooses on valid decisions no member was tuned on (the members' choices would
    # otherwise be read twice, favouring whichever over-fitted valid most): 'split' keeps a share of users
    # from the members, 'crossfit' scores each half of the users with temperatures chosen on the other.
    choice = np.zeros(len(valid), dtype=bool)
    if coordinator.enabled and coordinator.choice == "split":
        choice = choice_rows(valid.states, coordinator.choice_share, coordinator.seed)
    member_valid = valid.take(~choice)
    crossfit = coordinator.enabled and coordinator.choice == "crossfit"
    folds = user_folds(valid.states, 2, coordinator.seed) if crossfit else None
    crossfit_temperatures = {}  # policy name -> (B,) temperature of each valid decision, chosen on the other fold
    interactions = interactions_from_transitions(train_table, vocab.size)
    baseline_dir = layout.models / run_id / "baselines"
    baselines = fit_baselines(interactions, config.baselines, valid=member_valid, slate_size=slate_size)
    policies = [(ActorCriticAgent(*load_checkpoint(layout.models / run_id)), "agent")]
    if (layout.models / run_id / SEQUENTIAL_CHECKPOINT).is_file():  # the supervised SASRec-style baseline
        policies.append((SequentialAgent(*load_sequential(layout.models / run_id)), "baseline"))
    policies += [(b, "baseline") for b in baselines]
    # Item titles as features (recrl.agents.text): the text agent, and its team with the coordinator's anchor.
    text_policies = build_text_policies(layout, vocab, interactions, config.text, config.baselines,
                                        [p for p, _ in policies], member_valid, slate_size, coordinator.anchor)
    policies += [(p, "agent") for p in text_policies]
    if coordinator.enabled:
        policies += [(specialist, "agent") for specialist in load_specialists(layout, run_id)]
        item_counts = np.bincount(train_kind.action, minlength=vocab.size)
        policies.append((ExplorationAgent(item_counts, coordinator.exploration_temperature), "agent"))

    by_type = {type(b): b for b in baselines}
    features = RewardFeatures(by_type[PopularityPolicy], by_type[ItemKNNPolicy], by_type[PureSVDPolicy], slate_size)
    earlier = to_arrays(pa.concat_tables([train_kind_table, valid_table]), history_len)
    q_logged, q_candidates = fit_reward_model(features, test, config.eval, earlier)
    # The temperature rule's DR on valid: cross-fitted on the valid days with the train days as extra rows.
    valid_q = fit_reward_model(features, valid, config.eval, train_kind)
    member_q = tuple(q[~choice] for q in valid_q)

    truth = None
    if config.source == "simulator":
        truth = simulator_truth(Simulator(config.sim), layout.truth, vocab, config.states.reward_click,
                                config.states.reward_purchase, slate_size)

    policy_rows, estimate_rows, ranking_rows, weight_rows = [], [], [], []
    # A bar per policy (stderr; off when it is not a terminal): each takes seconds to a minute.
    for policy, kind in tqdm(policies, desc="evaluate", unit="policy", disable=None):
        temperatures = config.baselines.temperatures
        if isinstance(policy, ExplorationAgent):  # explores at its fixed temperature
            temperatures = (policy.temperature,)
        result = evaluate_policy(policy, kind, member_valid, test, q_logged, q_candidates, config.eval,
                                 temperatures, slate_size, truth, member_q)
        if crossfit and not isinstance(policy, TextTeamPolicy):
            crossfit_temperatures[policy.name] = fold_temperatures(policy, valid, valid_q, folds, temperatures,
                                                                   slate_size, config.eval)
        saved = checkpoint
        if policy in baselines:  # saved with the temperature chosen on valid: what `recrl recommend` serves
            saved = str(save_baseline(policy, baseline_dir / policy.name))
        elif policy in text_policies:
            saved = str(save_text_policy(policy, layout.models / run_id / policy.name))
        policy_rows.append(result.policy | {"checkpoint": saved, "config_json": policy_config_json(policy, config)})
        estimate_rows += result.estimates
        ranking_rows += result.ranking

    if coordinator.enabled:  # every agent's temperature is chosen: fuse them, choose on valid, judge on test
        # Every agent behind the one interface; the text team is already a fusion (of text and one policy).
        agents = [BaselineAgent(p) if p in baselines else TextAgent(p) if isinstance(p, TextPolicy) else p
                  for p, _ in policies if not isinstance(p, TextTeamPolicy)]
        choice_valid = valid.take(choice) if choice.any() else valid  # 'same', 'crossfit': every valid decision
        valid_days = ValidDays.of(choice_valid, *(q[choice] if choice.any() else q for q in valid_q),
                                  coordinator.min_support)  # the valid days' reward model
        team_choice = choose_team(agents, valid_days, coordinator, config.eval, config.baselines.temperatures,
                                  slate_size, [crossfit_temperatures[a.name] for a in agents] if crossfit else None)
        team = team_choice.team
        result = evaluate_policy(team, "team", valid, test, q_logged, q_candidates, config.eval,
                                 (team.temperature,), slate_size, truth)  # temperature chosen with the fusion
        saved = str(team.save(layout.models / run_id / "team"))
        policy_rows.append(result.policy | {"checkpoint": saved, "config_json": policy_config_json(team, config)})
        estimate_rows += result.estimates
        ranking_rows += result.ranking
        weight_rows = team_choice.weight_rows(agents)

    logging_truth, oracle_truth = logged_truth(layout, test, config) if truth else (None, None)
    ones = np.ones(len(test))  # on-policy: the logged rewards' own mean, whatever the propensities
    on_policy = estimate("snips", reward=test.reward, pscore=ones, action_prob=ones,
                         alpha=config.eval.alpha, n_bootstrap=config.eval.n_bootstrap, seed=config.eval.seed)
    estimate_rows += [row | {"estimator": "on-policy"} for row in
                      rows_of([on_policy], policy="logging", split="test", true_value=logging_truth)]
    estimate_rows = [r | {"propensity_source": source} for r in estimate_rows]
    policy_rows.append({"policy": "logging", "kind": "logging", "temperature": None, "true_value": logging_truth,
                        "checkpoint": None, "config_json": None})
    if truth:
        policy_rows.append({"policy": "oracle", "kind": "oracle", "temperature": None, "true_value": oracle_truth,
                            "checkpoint": None, "config_json": None})

    stamp = {"run_id": run_id}
    created = {"created_at": datetime.now(UTC)}
    return {
        "policies": pl.DataFrame([stamp | r for r in policy_rows], infer_schema_length=None),
        "ope_estimates": pl.DataFrame([stamp | r | created for r in estimate_rows], infer_schema_length=None),
        "ranking_metrics": pl.DataFrame([stamp | r for r in ranking_rows], infer_schema_length=None),
        "behaviour_model": pl.DataFrame([stamp | {"decision_kind": decisions} | r for r in behaviour_rows],
                                        infer_schema_length=None),
    } | ({"agent_weights": pl.DataFrame([stamp | r for r in weight_rows], infer_schema_length=None)}
         if weight_rows else {})


def fold_temperatures(policy, valid: TransitionArrays, valid_q: tuple[np.ndarray, np.ndarray], folds: np.ndarray,
                      temperatures, slate_size: int, config: EvalConfig) -> np.ndarray:
    """(B,) the temperature of each valid decision for the coordinator's cross-fitted choice: chosen
    (``choose_temperature``) on the valid decisions of the other folds' users."""
    scores = score_states(policy, valid.states)
    out = np.empty(len(valid))
    for fold in np.unique(folds):
        rest = folds != fold
        out[~rest], _ = choose_temperature(scores[rest], valid.take(rest), temperatures, slate_size,
                                           valid_q[0][rest], valid_q[1][rest], settings=config)
    return out


def decision_kind(test_table: pa.Table) -> str:
    """'bandit' where the test days hold impressions, else 'sequence' (implicit logs)."""
    kinds = set(test_table.column("kind").to_pylist())
    return "bandit" if "bandit" in kinds or not kinds else "sequence"


def propensity_source(choice: str, valid: TransitionArrays, test: TransitionArrays) -> str:
    """'logged' or 'estimated' for ``EvalConfig.propensity`` (auto: logged where every valid and test
    decision has one)."""
    if choice not in PROPENSITY_CHOICES:
        raise ValueError(f"eval.propensity must be one of {PROPENSITY_CHOICES}, got {choice!r}")
    complete = bool(np.isfinite(valid.propensity).all() and np.isfinite(test.propensity).all())
    if choice == "logged" and not complete:
        raise ValueError("eval.propensity='logged' but some valid or test decisions have no logged propensity; "
                         "use 'estimated' or 'auto'")
    if choice == "auto":
        return "logged" if complete else "estimated"
    return choice


def with_propensities(source: str, train: TransitionArrays, valid: TransitionArrays, test: TransitionArrays,
                      vocab_size: int, slate_size: int, seed: int
                      ) -> tuple[TransitionArrays, TransitionArrays, list[dict]]:
    """(valid, test) with the propensities the estimators use, and the behaviour models' valid-day checks.

    The behaviour models are fitted on the train days and checked on the valid days whatever the
    source, so a run on logged propensities also says how well it would have done without them; the
    conditional logit is used where its valid log-loss beats popularity's, else popularity.
    """
    fitted = fit_behaviour(train, vocab_size, slate_size, seed)
    popularity = fit_behaviour(train, vocab_size, slate_size, seed, popularity_only=True)
    reports = [behaviour_report(candidate, valid) for candidate in (fitted, popularity)]
    # Checked on the valid days: the logit serves only where it predicts them better than popularity.
    model = fitted if reports[0]["log_loss"] <= reports[1]["log_loss"] else popularity
    rows = [{"model": report["model"], "split": "valid", "n_fit": report["n_fit"], "n": report["n"],
             "log_loss": report["log_loss"], "ece": report["ece"],
             "used": source == "estimated" and report["model"] == model.name,
             "reliability_json": json.dumps(report["reliability"])} for report in reports]
    if np.isfinite(valid.propensity).all():
        rows.append({"model": "logged", "split": "valid", "n_fit": None, "n": len(valid),
                     "log_loss": float(-np.log(valid.propensity).mean()), "ece": None, "used": source == "logged",
                     "reliability_json": None})
    if source == "logged":
        return valid, test, rows
    return (dataclasses.replace(valid, propensity=model.pscore(valid)),
            dataclasses.replace(test, propensity=model.pscore(test)), rows)


def logged_truth(layout: DataLayout, test, config: PipelineConfig) -> tuple[float, float]:
    """Simulator truth of the logging policy and the oracle, averaged over the test decisions."""
    decisions = pl.read_parquet(layout.truth / "decisions.parquet")
    logged = pl.DataFrame({"request_id": test.request_id.astype(str), "position": test.position})
    joined = logged.join(decisions, on=["request_id", "position"], how="left", coalesce=True)
    if joined["logging_value"].null_count():
        raise ValueError("simulator truth lacks some test decisions: was the truth written for these logs?")
    return float(joined["logging_value"].mean()), float(joined["oracle_value"].mean())


def policy_config_json(policy, config: PipelineConfig) -> str:
    """The settings that made a policy, as JSON: its config section, or a baseline's tuned
    hyperparameters and search record, with the temperature chosen on valid."""
    if isinstance(policy, ActorCriticAgent):  # the actor-critic or a specialist: the settings it was trained with
        fields = dataclasses.asdict(policy.config)
    elif isinstance(policy, ActorCriticPolicy):
        fields = dataclasses.asdict(config.agent)
    elif isinstance(policy, SequentialPolicy):
        fields = dataclasses.asdict(config.sequential)
    elif isinstance(policy, Team):
        fields = dataclasses.asdict(config.coordinator) | {
            "fusion": policy.fusion, "members": [m.name for m in policy.members],
            "weights": None if policy.weights is None else policy.weights.tolist(),
            "gate": None if policy.gate is None else policy.gate.tolist()}
    elif isinstance(policy, ExplorationAgent):
        fields = {"kind": policy.kind}
    else:
        fields = baseline_config(policy)
    return json.dumps(fields | {"temperature": policy.temperature}, sort_keys=True)
