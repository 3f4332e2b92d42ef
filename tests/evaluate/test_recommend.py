"""``recrl recommend``: a run's policies served outside the flow give exactly the evaluation's numbers."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import duckdb
import numpy as np
import polars as pl
import pytest

from recrl.agents.fit import fit_actor_critic, fit_sequential
from recrl.baselines import load_baseline
from recrl.cli import main
from recrl.evaluate import stage
from recrl.evaluate.offpolicy import decision_probs, evaluate_policy, score_states
from recrl.evaluate.recommend import load_policy, recommend
from recrl.evaluate.stage import decision_kind, evaluate_run
from recrl.lake import DataLayout
from recrl.policies import N_RESERVED, slate_size_of
from recrl.states import load_transitions, load_vocab, to_arrays
from recrl.store import warehouse

RUN = "serve-1"
EVALUATED: dict[str, np.ndarray] = {}
"""(B, V) test probabilities of each policy as the evaluation computed them, filled by ``served``."""


@pytest.fixture(scope="module")
def served(tiny_pipeline, tmp_path_factory):
    """One run through the real evaluation, written to its own warehouse; states, truth and lake shared."""
    root = tmp_path_factory.mktemp("serve")
    for folder in ("states", "truth", "lake"):  # the lake for its item titles: the text agent
        (root / folder).symlink_to(getattr(tiny_pipeline.layout, folder), target_is_directory=True)
    base = tiny_pipeline.config
    config = dataclasses.replace(
        base,
        data_root=str(root),
        agent=dataclasses.replace(base.agent, epochs=1, warmup_epochs=1),
        eval=dataclasses.replace(base.eval, n_bootstrap=20),
        baselines=dataclasses.replace(base.baselines, tuning_trials=1),
        sequential=dataclasses.replace(base.sequential, epochs=1, hidden_size=32, intermediate_size=64),
    )
    layout = DataLayout(root)
    checkpoint = fit_actor_critic(layout, config.states, config.agent, RUN)
    # The SASRec-style model too, whether or not this evaluation scores it.
    fit_sequential(layout, config.states, config.sequential, RUN)

    def recording(policy, kind, valid, test, *args, **kwargs):  # evaluate_policy, keeping what it served
        result = evaluate_policy(policy, kind, valid, test, *args, **kwargs)
        scores = score_states(policy, test.states)
        EVALUATED[policy.name] = decision_probs(
            scores, test.position, policy.temperature, slate_size_of(test.position)
        )
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stage, "evaluate_policy", recording)
        frames = evaluate_run(layout, config, RUN, str(checkpoint))
    now = datetime.now(UTC)
    frames["runs"] = pl.DataFrame(
        [
            {
                "run_id": RUN,
                "started_at": now,
                "finished_at": now,
                "status": "succeeded",
                "source": config.source,
                "data_root": str(root),
                "config_json": config.to_json(),
            }
        ]
    )
    warehouse.replace_run(layout.warehouse, RUN, frames)
    return layout, config


def test_split_probabilities_are_the_evaluations_and_give_its_snips(served, tmp_path) -> None:
    layout, config = served
    out = tmp_path / "ac.parquet"
    assert (
        main(
            [
                "recommend",
                "--data",
                str(layout.root),
                "--run",
                RUN,
                "--policy",
                "actor-critic",
                "--split",
                "test",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    served_probs = pl.read_parquet(out)
    assert [p.name for p in tmp_path.iterdir()] == ["ac.parquet"]  # the temporary file was renamed
    assert served_probs.columns == ["request_id", "decision_id", "position", "item_id", "probability"]

    test = to_arrays(
        load_transitions(layout, "test", kind=decision_kind(load_transitions(layout, "test"))),
        config.states.history_len,
    )
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        temperature = con.execute(
            "SELECT temperature FROM policies WHERE run_id = ? AND policy = 'actor-critic'", [RUN]
        ).fetchone()[0]
        snips = con.execute(
            "SELECT value FROM ope_estimates WHERE run_id = ? AND policy = 'actor-critic' "
            "AND estimator = 'snips' AND split = 'test'",
            [RUN],
        ).fetchone()[0]
    policy = load_policy(layout, RUN, "actor-critic")
    assert policy.temperature == temperature
    expected = decision_probs(
        score_states(policy, test.states), test.position, temperature, slate_size_of(test.position)
    )
    vocab = load_vocab(layout)
    n_items = vocab.size - N_RESERVED
    assert served_probs.height == len(test) * n_items
    got = served_probs["probability"].to_numpy().reshape(len(test), n_items)
    np.testing.assert_allclose(got, expected[:, N_RESERVED:], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-12)
    assert served_probs["decision_id"].to_list()[::n_items] == list(test.decision_id)
    assert served_probs["item_id"].to_list()[:n_items] == list(vocab.item_ids[N_RESERVED:])

    # The logged item's probability, joined by item id, reproduces the evaluation's SNIPS.
    logged = pl.DataFrame(
        {
            "decision_id": test.decision_id.astype(str),
            "item_id": vocab.item_ids[test.action].astype(str),
            "reward": test.reward,
            "propensity": test.propensity,
        }
    )
    joined = logged.join(served_probs, on=["decision_id", "item_id"], how="left")
    action_prob = joined["probability"].fill_null(0.0).to_numpy()  # the unknown item: never served
    weight = action_prob / joined["propensity"].to_numpy()
    assert abs((weight * joined["reward"].to_numpy()).sum() / weight.sum() - snips) < 1e-9


def test_saved_baseline_reloads_and_scores_identically(served) -> None:
    layout, config = served
    valid = to_arrays(load_transitions(layout, "valid"), config.states.history_len)
    saved = load_baseline(layout.models / RUN / "baselines" / "item-knn")
    served_policy = load_policy(layout, RUN, "item-knn")
    np.testing.assert_array_equal(
        score_states(saved, valid.states), score_states(served_policy, valid.states)
    )
    frame = recommend(layout, RUN, "item-knn", split="valid", top_k=3)
    assert frame.group_by("decision_id").len()["len"].unique().to_list() == [3]
    full = recommend(layout, RUN, "item-knn", split="valid")
    best = (
        full.sort(["decision_id", "probability"], descending=[False, True])
        .group_by("decision_id", maintain_order=True)
        .head(3)
    )
    assert sorted(frame["probability"].to_list()) == pytest.approx(
        sorted(best["probability"].to_list()), abs=0
    )


def test_histories_file_gives_the_split_probabilities(served, tmp_path) -> None:
    layout, config = served
    test_table = load_transitions(layout, "test", kind=decision_kind(load_transitions(layout, "test")))
    vocab = load_vocab(layout)
    type_names = {1: "click", 2: "cart", 3: "purchase"}
    rows = test_table.slice(0, 5).to_pylist()
    histories = pl.DataFrame(
        {
            "request_id": [r["decision_id"] for r in rows],
            "history": [[str(vocab.item_ids[i]) for i in r["history_items"]] for r in rows],
            "history_types": [[type_names[t] for t in r["history_types"]] for r in rows],
            "position": [max(r["position"], 0) for r in rows],
        }
    )
    path = tmp_path / "histories.parquet"
    histories.write_parquet(path)
    from_file = recommend(layout, RUN, "actor-critic", histories=path)
    from_split = recommend(layout, RUN, "actor-critic", split="test")
    n = from_file.height
    assert n == 5 * (vocab.size - N_RESERVED)
    np.testing.assert_allclose(
        from_file["probability"].to_numpy(), from_split["probability"].to_numpy()[:n], rtol=0, atol=1e-12
    )

    # CSV, space-separated, no types (all clicks), an unknown item: one row per item, summing to 1.
    csv = tmp_path / "histories.csv"
    csv.write_text(f"request_id,history\nr1,{vocab.item_ids[2]} no-such-item {vocab.item_ids[3]}\nr2,\n")
    frame = recommend(layout, RUN, "popularity", histories=csv, top_k=None)
    sums = frame.group_by("request_id").agg(pl.col("probability").sum()).sort("request_id")
    assert sums["request_id"].to_list() == ["r1", "r2"]
    np.testing.assert_allclose(sums["probability"].to_numpy(), 1.0, atol=1e-12)


def test_bad_policy_run_split_or_out_fail_with_one_line(served, tmp_path, capsys) -> None:
    layout, _ = served
    base = ["recommend", "--data", str(layout.root), "--out", str(tmp_path / "x.parquet")]
    for extra, words in (
        (["--run", RUN, "--policy", "no-such", "--split", "test"], ["no-such", "known:", "actor-critic"]),
        (["--run", RUN, "--policy", "logging", "--split", "test"], ["logging", "known:"]),
        (["--run", "no-run", "--policy", "actor-critic", "--split", "test"], ["no-run", RUN]),
        (["--run", RUN, "--policy", "actor-critic", "--split", "train"], ["split", "train"]),
    ):
        assert main(base + extra) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("recrl recommend: error: "), err
        assert all(w in err[0] for w in words), err
    assert (
        main(
            [
                "recommend",
                "--data",
                str(layout.root),
                "--run",
                RUN,
                "--policy",
                "actor-critic",
                "--split",
                "test",
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "directory" in capsys.readouterr().err
    assert not (tmp_path / "x.parquet").exists()


def test_sasrec_is_served_from_its_checkpoint(served) -> None:
    from recrl.agents.sequential import CHECKPOINT_FILE, SequentialPolicy

    layout, _ = served
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        rows = con.execute(
            "SELECT temperature FROM policies WHERE run_id = ? AND policy = 'sasrec'", [RUN]
        ).fetchall()
    if not rows:  # an evaluation that does not score it yet: the row it would write
        row = {"run_id": RUN, "policy": "sasrec", "kind": "agent", "temperature": 0.5}
        warehouse.append_rows(layout.warehouse, "policies", pl.DataFrame([row]))
    temperature = rows[0][0] if rows else 0.5
    policy = load_policy(layout, RUN, "sasrec")
    assert isinstance(policy, SequentialPolicy) and policy.temperature == temperature
    frame = recommend(layout, RUN, "sasrec", split="test", top_k=2)
    assert frame.group_by("decision_id").len()["len"].unique().to_list() == [2]
    checkpoint = layout.models / RUN / CHECKPOINT_FILE
    checkpoint.rename(checkpoint.with_suffix(".moved"))
    try:
        with pytest.raises(FileNotFoundError, match="sasrec checkpoint not found"):
            load_policy(layout, RUN, "sasrec")
    finally:
        checkpoint.with_suffix(".moved").rename(checkpoint)


def test_team_and_text_policies_are_served_as_evaluated(served) -> None:
    """The coordinator's team and the text agent (and its team, where one was built) from their saved
    folders: the probabilities the evaluation used on the test split, each slot's summing to 1."""
    layout, _ = served
    names = [name for name in EVALUATED if name == "team" or name.startswith("text")]
    assert {"team", "text"} <= set(names)
    n_items = load_vocab(layout).size - N_RESERVED
    for name in names:
        frame = recommend(layout, RUN, name, split="test")
        got = frame["probability"].to_numpy().reshape(-1, n_items)
        np.testing.assert_allclose(got, EVALUATED[name][:, N_RESERVED:], rtol=0, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-12, err_msg=name)
