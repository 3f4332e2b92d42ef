"""Built-in e-commerce simulator: the default data source and the ground truth of every estimate.

``write_logs`` writes canonical raw logs and hidden truth; ``Simulator`` / ``true_value`` give the
true value of any policy on the logged decisions; ``online_value`` rolls a policy out in
``EcommerceEnv``. The user model lives in ``dynamics`` (one implementation for all of them).
"""

from recrl.simulate.env import EcommerceEnv, SlateSpace
from recrl.simulate.logging_policy import LOGGING_POLICY_ID, LoggingPolicy, logging_probs, sample_slates
from recrl.simulate.logs import write_logs
from recrl.simulate.truth import PolicyFn, Simulator, online_value, true_value
from recrl.simulate.world import World, build_world

__all__ = [
    "LOGGING_POLICY_ID",
    "EcommerceEnv",
    "LoggingPolicy",
    "PolicyFn",
    "Simulator",
    "SlateSpace",
    "World",
    "build_world",
    "logging_probs",
    "online_value",
    "sample_slates",
    "true_value",
    "write_logs",
]
