"""The closed loop on the simulator: each night serve the deployed policy, learn, judge, gate, deploy.

``run_nights`` (``recrl.loop.run``) is the loop; ``recrl demo --nights N`` (``recrl.loop.cli``) runs it.
"""

LOOP_TABLES: tuple[str, ...] = ("deployments", "nightly_summary")
"""Warehouse tables only the closed loop writes (the nightly flow leaves them empty)."""
