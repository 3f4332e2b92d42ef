"""The deployment path of the README on one machine, for real: a Prefect server on loopback, a process
work pool, ``prefect deploy --all`` from ``prefect.yaml``, a worker, the manual deployment run with
parameters; then a run killed mid-stage leaves a ``failed`` row and its rerun resumes without retraining.
Everything started here is stopped here, on failure too."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import duckdb
import psutil
import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.settings import PREFECT_API_URL, temporary_settings

from pipelines.deploy import NIGHTLY_CRON
from pipelines.nightly import nightly
from recrl.agents.fit import TRAINING_LOG_FILE
from recrl.lake import DataLayout

REPO = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))
POOL = "recrl"
"""The work pool ``prefect.yaml`` names."""


def test_prefect_yaml_deploys_the_flow_nightly_on_cron_with_timezone_and_manual_unscheduled() -> None:
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    deployments = {d["name"]: d for d in spec["deployments"]}
    assert deployments.keys() == {"nightly", "manual"}
    (schedule,) = deployments["nightly"]["schedules"]
    assert schedule["cron"] == NIGHTLY_CRON and schedule["timezone"] == "UTC"
    assert deployments["manual"]["schedules"] == []
    for deployment in deployments.values():
        assert deployment["entrypoint"] == "pipelines/nightly.py:nightly"
        assert deployment["work_pool"]["name"] == POOL
        # The default parameters pass the flow's own validation into a typed config.
        assert nightly.validate_parameters(deployment["parameters"])["config"].data_root == "data"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def started(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """``command`` in its own session (output to ``log``); on exit it and every process it started
    (the worker's flow-run processes run in sessions of their own) get SIGTERM, then SIGKILL."""
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            try:
                family = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
            except psutil.NoSuchProcess:
                family = []
            for member in family:
                try:
                    member.terminate()
                except psutil.NoSuchProcess:
                    pass
            _, alive = psutil.wait_procs(family, timeout=20)
            for member in alive:
                member.kill()
            process.wait(timeout=20)


def wait_for(check, what: str, deadline_s: float, every_s: float = 1.0):
    """Poll ``check()`` until it returns something truthy; fail naming ``what`` after ``deadline_s``."""
    stop = time.monotonic() + deadline_s
    while time.monotonic() < stop:
        if result := check():
            return result
        time.sleep(every_s)
    pytest.fail(f"timed out after {deadline_s:.0f} s waiting for {what}")


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def prefect(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [PREFECT, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"prefect {' '.join(args)}: {result.stdout}\n{result.stderr}"
    return result


def runs_row(layout: DataLayout, run_id: str) -> dict | None:
    if not layout.warehouse.is_file():
        return None
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        cursor = con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id])
        rows = cursor.fetchall()
        return dict(zip([d[0] for d in cursor.description], rows[0], strict=True)) if rows else None


def task_states(client, flow_run_id) -> dict[str, str]:
    task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return {t.name: t.state.name for t in task_runs if t.state is not None}


@pytest.mark.slow
def test_deploy_from_prefect_yaml_run_on_a_worker_then_kill_mid_stage_and_resume(
    make_tiny_config, tmp_path
) -> None:
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        # No cron run of the nightly deployment (a full default-sized run) while the test runs.
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "OMP_NUM_THREADS": "1",
    }
    config = make_tiny_config(tmp_path / "data")
    layout = DataLayout(tmp_path / "data")
    with ExitStack() as stack:
        stack.enter_context(
            started(
                [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                env,
                tmp_path / "server.log",
            )
        )
        wait_for(lambda: healthy(api), "the Prefect server's /api/health", 180)
        prefect("work-pool", "create", POOL, "--type", "process", env=env)
        deployed = prefect("--no-prompt", "deploy", "--all", env=env)
        assert "recrl-nightly/nightly" in deployed.stdout and "recrl-nightly/manual" in deployed.stdout
        stack.enter_context(
            started([PREFECT, "worker", "start", "--pool", POOL], env, tmp_path / "worker.log")
        )
        stack.enter_context(temporary_settings({PREFECT_API_URL: api}))
        client = stack.enter_context(get_client(sync_client=True))

        # (a) The manual deployment with parameters, run by the worker to completion.
        prefect(
            "deployment",
            "run",
            "recrl-nightly/manual",
            "--param",
            "run_id=deployed-1",
            "--param",
            f"config={config.to_json()}",
            "--watch",
            env=env,
            timeout=900,
        )
        row = runs_row(layout, "deployed-1")
        assert row is not None and row["status"] == "succeeded" and row["failed_stage"] is None
        assert json.loads(row["config_json"]) == json.loads(config.to_json())
        # The row is published with the results, so it times every stage up to the evaluation.
        assert {"simulate-logs", "ingest", "train-actor-critic", "evaluate"} <= json.loads(
            row["stage_seconds"]
        ).keys()
        with duckdb.connect(str(layout.warehouse), read_only=True) as con:
            policies = {
                r[0]
                for r in con.execute("SELECT policy FROM policies WHERE run_id = 'deployed-1'").fetchall()
            }
        assert {"actor-critic", "sasrec", "logging"} <= policies
        (flow_run,) = client.read_flow_runs(flow_run_filter=FlowRunFilter(name={"any_": ["deployed-1"]}))
        assert flow_run.state.is_completed()  # the flow run is named by its run id

        # (b) A run killed mid-stage: the worker's on_crashed hook leaves a failed row naming the stage.
        deployment = client.read_deployment_by_name("recrl-nightly/manual")
        parameters = {"run_id": "killed-1", "config": json.loads(config.to_json())}
        killed = client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
        wait_for(
            lambda: task_states(client, killed.id).get("evaluate") == "Running", "stage evaluate to run", 600
        )
        pid = int(str(client.read_flow_run(killed.id).infrastructure_pid).rsplit(":", 1)[-1])
        os.kill(pid, signal.SIGKILL)
        failed = wait_for(
            lambda: (r := runs_row(layout, "killed-1")) and r["status"] == "failed" and r,
            "the failed runs row of the killed run",
            180,
        )
        assert failed["failed_stage"] == "evaluate" and "status code" in failed["error"]
        assert client.read_flow_run(killed.id).state.is_crashed()
        training_log = layout.models / "killed-1" / TRAINING_LOG_FILE
        trained_at = training_log.stat().st_mtime_ns

        # The rerun with the same run id resumes at evaluate: the earlier stages are Cached, nothing retrains.
        resumed = client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
        wait_for(
            lambda: client.read_flow_run(resumed.id).state.is_final(), "the resumed run to finish", 600, 2
        )
        assert client.read_flow_run(resumed.id).state.is_completed()
        states = wait_for(
            lambda: (s := task_states(client, resumed.id)) and "report" in s and s,
            "the resumed run's task runs",
            60,
        )
        for stage in ("simulate-logs", "ingest", "build-states", "train-actor-critic", "train-sequential"):
            assert states[stage] == "Cached", (stage, states)
        assert states["evaluate"] == "Completed"
        assert training_log.stat().st_mtime_ns == trained_at
        assert runs_row(layout, "killed-1")["status"] == "succeeded"
