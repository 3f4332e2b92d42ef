"""recrl: train and judge recommendation policies from logged interaction data.

Stages (one sub-package each, data flows one way):
simulate -> ingest -> states -> agents / baselines -> ope / evaluate -> store.
"""

__version__ = "0.1.0"
