"""``recrl ope`` on the Open Bandit Dataset sample: BTS evaluated on the uniform-random log of campaign all."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recrl.cli import build_parser, main
from recrl.ope.cli import evaluate_outside_policy
from recrl.schema import EVENT_SCHEMA

OBD = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "obd"
pytestmark = pytest.mark.skipif(not OBD.is_dir(), reason=f"Open Bandit Dataset sample not found at {OBD}")
BTS_PROBS = OBD / "bts_policy_action_dist_all.csv"


def write_obd_lake(csv: Path, root: Path, policy_id: str) -> pl.DataFrame:
    """The OBD log as canonical lake events: an impression per row, a click row where click = 1."""
    log = pl.read_csv(csv).rename({"": "index"})
    base = log.select(
        ts=pl.col("timestamp").str.to_datetime(time_zone="UTC").dt.cast_time_unit("us"),
        user_id=pl.lit("obd"),
        session_id=pl.lit(None, dtype=pl.String),
        item_id=pl.col("item_id").cast(pl.String),
        position=(pl.col("position") - 1).cast(pl.Int16),
        request_id=pl.lit(f"{policy_id}-") + pl.col("index").cast(pl.String),
        propensity=pl.col("propensity_score").cast(pl.Float64),
        policy_id=pl.lit(policy_id),
        click=pl.col("click"),
    )
    impressions = base.with_columns(event_type=pl.lit("impression"))
    clicks = base.filter(pl.col("click") == 1).with_columns(event_type=pl.lit("click"))
    events = pl.concat([impressions, clicks]).select(EVENT_SCHEMA.names)
    folder = root / "lake" / "events" / "date=2019-11-24" / "shard=00"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(events.to_pandas(), schema=EVENT_SCHEMA, preserve_index=False),
                   folder / f"{policy_id}.parquet")
    return log


@pytest.fixture(scope="module")
def obd_lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("obd")
    random_log = write_obd_lake(OBD / "random" / "all" / "all.csv", root, "obd-random-all")
    bts_log = write_obd_lake(OBD / "bts" / "all" / "all.csv", root, "obd-bts-all")
    return root, random_log, bts_log


def parse(root: Path, *extra: str):
    return build_parser().parse_args(
        ["ope", "--events", str(root / "lake"), "--policy-probs", str(BTS_PROBS), "--policy-id", "obd-random-all",
         "--n-bootstrap", "1000", *extra]
    )


def test_bts_on_the_random_log(obd_lake):
    root, random_log, bts_log = obd_lake
    truth = bts_log["click"].mean()  # BTS's own on-policy click rate
    assert truth == pytest.approx(0.0042, abs=5e-5)
    estimates = {e.estimator: e for e in evaluate_outside_policy(parse(root))}
    assert set(estimates) == {"ips", "snips", "dm", "dr", "sndr", "switch-dr", "dr-os"}
    # IPS by hand from the CSVs: pi(item | position) / propensity times click, averaged.
    probs = pl.read_csv(BTS_PROBS)
    pi = probs.select([f"pos{k}" for k in range(3)]).to_numpy()[
        random_log["item_id"].to_numpy(), random_log["position"].to_numpy() - 1]
    by_hand = np.mean(pi / random_log["propensity_score"].to_numpy() * random_log["click"].to_numpy())
    assert estimates["ips"].value == pytest.approx(by_hand, rel=1e-12)
    assert estimates["ips"].n == random_log.height == 10_000
    for name in ("ips", "dr", "snips", "sndr"):
        assert estimates[name].ci_low <= truth <= estimates[name].ci_high, name
    # The uniform log puts propensity 1/80 everywhere: weights = 80 pi, ESS well below n.
    assert estimates["ips"].max_weight == pytest.approx(80 * pi.max(), rel=1e-12)
    assert 100 < estimates["ips"].ess < 10_000


def test_cli_prints_and_writes_the_warehouse(obd_lake, tmp_path, capsys):
    root, _, _ = obd_lake
    db = tmp_path / "warehouse.duckdb"
    code = main(["ope", "--events", str(root / "lake"), "--policy-probs", str(BTS_PROBS), "--policy-id",
                 "obd-random-all", "--estimators", "ips", "dr", "--n-bootstrap", "200", "--warehouse", str(db),
                 "--run-id", "obd-test"])
    assert code == 0
    out = capsys.readouterr().out
    assert "ips" in out and "dr" in out and "ope_estimates" in out
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT estimator, n, ci_method, true_value FROM ope_estimates WHERE run_id = $run_id "
                           "ORDER BY estimator", {"run_id": "obd-test"}).fetchall()
    # --lambda clips IPS (stored as ips-clip100), plain DR stays unclipped: the names say which.
    assert rows == [("dr", 10_000, "bootstrap+model-floor", None), ("ips-clip100", 10_000, "bootstrap+model-floor", None)]


def test_per_request_table_gives_the_same_ips_as_the_per_position_table(obd_lake, tmp_path):
    root, random_log, _ = obd_lake
    probs = pl.read_csv(BTS_PROBS)
    per_request = (
        random_log.select(request_id=pl.lit("obd-random-all-") + pl.col("index").cast(pl.String),
                          position=pl.col("position") - 1)
        .join(probs.with_columns(pl.col("item_id").cast(pl.String)), how="cross")
        .with_columns(prob=pl.when(pl.col("position") == 0).then("pos0")
                      .when(pl.col("position") == 1).then("pos1").otherwise("pos2"))
        .select("request_id", "item_id", "position", "prob")
    )
    path = tmp_path / "per_request.csv"
    per_request.write_csv(path)
    by_position = {e.estimator: e.value for e in evaluate_outside_policy(parse(root, "--n-bootstrap", "20"))}
    args = parse(root, "--n-bootstrap", "20")
    args.policy_probs = path
    by_request = {e.estimator: e.value for e in evaluate_outside_policy(args)}
    for name in by_position:
        assert by_request[name] == pytest.approx(by_position[name], rel=1e-9), name


@pytest.mark.parametrize(
    ("change", "message"),
    [({"--events": "missing-lake"}, "lake folder not found"), ({"--policy-probs": "missing.csv"}, "file not found"),
     ({"--policy-id": "nobody"}, "no impression rows")],
)
def test_bad_paths_give_one_line_errors(obd_lake, tmp_path, capsys, change, message):
    root, _, _ = obd_lake
    args = {"--events": str(root / "lake"), "--policy-probs": str(BTS_PROBS), "--policy-id": "obd-random-all"}
    args.update({k: str(tmp_path / v) if k != "--policy-id" else v for k, v in change.items()})
    assert main(["ope", *[x for kv in args.items() for x in kv], "--n-bootstrap", "10"]) == 2
    assert message in capsys.readouterr().err
