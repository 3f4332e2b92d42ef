"""Run report: Markdown + HTML + a PNG of every policy's estimates (95% CI) beside its true value.

Reads the warehouse only (what people would query), writes ``{data}/reports/{run_id}/``.
"""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402

from recrl.lake import DataLayout  # noqa: E402
from recrl.sql import stream_sql  # noqa: E402
from recrl.store import warehouse  # noqa: E402

PLOT_FILE = "estimates.png"


def write_report(layout: DataLayout, run_id: str) -> Path:
    """Write report.md, report.html and estimates.png for ``run_id``; returns the Markdown path."""
    with warehouse.connect(layout.warehouse, read_only=True) as con:
        estimates = pl.from_arrow(stream_sql(con, "warehouse/run_estimates", run_id=run_id).read_all())
        ranking = pl.from_arrow(stream_sql(con, "warehouse/run_ranking", run_id=run_id).read_all())
    if estimates.height == 0:
        raise ValueError(f"no estimates for run {run_id!r} in {layout.warehouse}")
    comparison = warehouse.main_comparison(layout.warehouse, run_id)
    directory = layout.reports / run_id
    directory.mkdir(parents=True, exist_ok=True)
    plot_estimates(estimates, directory / PLOT_FILE)
    ranking_wide = ranking.with_columns(
        (pl.col("metric") + "@" + pl.col("k").cast(pl.String) + " " + pl.col("target")).alias("metric_k")
    ).pivot(on="metric_k", index="policy", values="value")
    sections = [
        (f"recrl run {run_id}", "Expected reward per decision on the held-out test days (an impression, or on "
         "implicit sequence logs the next item interacted with: docs/ope.md). `true_value` is the simulator's exact "
         "value of the policy on the same logged contexts (empty on real logs); `propensity_source` says whether "
         "the estimators used logged or estimated propensities (table behaviour_model)."),
        ("Main comparison", comparison),
        ("All off-policy estimates (95% bootstrap intervals)", estimates),
        ("Ranking metrics (test split)", ranking_wide),
    ]
    markdown = render_markdown(sections) + f"\n![estimates]({PLOT_FILE})\n"
    (directory / "report.md").write_text(markdown)
    (directory / "report.html").write_text(render_html(sections, PLOT_FILE))
    return directory / "report.md"


def comparison_text(table: pl.DataFrame, run_id: str) -> str:
    """The main comparison as printed: a legend saying which columns are truth and which estimates,
    no truth column when the run has none (real logs)."""
    has_truth = table.height > 0 and table["true_value"].null_count() < table.height
    if not has_truth:
        table = table.drop("true_value")
    sources = ", ".join(sorted(set(table["propensity_source"].drop_nulls().to_list()))) or "none"
    legend = [
        f"recrl run {run_id}: expected reward per decision on the test days",
        ("  truth:     true_value = the simulator's exact value on the same test contexts" if has_truth else
         "  truth:     none (real logs: no ground truth; every value below is an estimate)"),
        "  estimates: snips, dr [dr_ci_low, dr_ci_high] = 95% bootstrap CI; n = test decisions, ess_share = "
        "ESS / n of the importance weights (logging: on-policy mean, ess_share 1)",
        f"  propensities: {sources} (estimated = behaviour model fitted on the train days, see table behaviour_model)",
        "  ranking on logged feedback: ndcg10_click over n_click decisions, hr10_purchase over n_purchase "
        "(null when n = 0)",
    ]
    with pl.Config(tbl_rows=50, tbl_cols=20, float_precision=4, tbl_width_chars=220, tbl_hide_dataframe_shape=True):
        return "\n".join(legend) + "\n" + str(table)


def plot_estimates(estimates: pl.DataFrame, path: Path) -> None:
    """One row per policy: each estimator's value with its interval, the true value as a red bar."""
    policies = estimates["policy"].unique(maintain_order=True).to_list()
    estimators = sorted(estimates["estimator"].unique().to_list())
    fig, ax = plt.subplots(figsize=(9, 0.6 + 0.9 * len(policies)))
    offsets = {e: (i - (len(estimators) - 1) / 2) * 0.8 / max(len(estimators), 1) for i, e in enumerate(estimators)}
    colours = {e: f"C{i}" for i, e in enumerate(estimators)}  # one colour per estimator in every row
    labelled: set[str] = set()
    for row, policy in enumerate(policies):
        rows = estimates.filter(pl.col("policy") == policy)
        for record in rows.iter_rows(named=True):
            name = record["estimator"]
            label = None if name in labelled else name
            labelled.add(name)
            y = row + offsets[record["estimator"]]
            # A percentile interval need not contain its point estimate (a ratio estimator's skew): bars from 0.
            below, above = max(record["value"] - record["ci_low"], 0.0), max(record["ci_high"] - record["value"], 0.0)
            ax.errorbar(record["value"], y, xerr=[[below], [above]], fmt="o", ms=3, capsize=2, color=colours[name],
                        label=label)
        true_value = rows["true_value"][0]
        if true_value is not None:
            ax.vlines(true_value, row - 0.45, row + 0.45, colors="red", linewidth=2,
                      label="true value" if row == 0 else None)
    ax.set_yticks(range(len(policies)), policies)
    ax.set_xlabel("expected reward per impression (test days)")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render_markdown(sections: list[tuple[str, object]]) -> str:
    parts = []
    for title, body in sections:
        parts.append(f"## {title}\n")
        parts.append(frame_markdown(body) if isinstance(body, pl.DataFrame) else str(body))
        parts.append("")
    return "\n".join(parts)


def frame_markdown(frame: pl.DataFrame) -> str:
    def cell(value: object) -> str:
        return f"{value:.4f}" if isinstance(value, float) else ("" if value is None else str(value))

    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join([header, rule, *rows]) + "\n"


def render_html(sections: list[tuple[str, object]], plot_file: str) -> str:
    parts = ["<!doctype html><meta charset='utf-8'><title>recrl report</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}</style>"]
    for title, body in sections:
        parts.append(f"<h2>{html.escape(title)}</h2>")
        if isinstance(body, pl.DataFrame):
            parts.append("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in body.columns) + "</tr>")
            for row in body.iter_rows():
                cells = (f"{v:.4f}" if isinstance(v, float) else ("" if v is None else str(v)) for v in row)
                parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
            parts.append("</table>")
        else:
            parts.append(f"<p>{html.escape(str(body))}</p>")
    parts.append(f"<img src='{html.escape(plot_file)}' alt='estimates with 95% intervals and true values'>")
    return "\n".join(parts)
