"""Result tables in DuckDB (``data/warehouse.duckdb``): runs, policies, ope_estimates, ranking_metrics."""
