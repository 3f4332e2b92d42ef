"""Non-RL baselines: exposure-debiased popularity and collaborative filtering (item-kNN, session-kNN,
PureSVD), tuned per world on the validation days and saved like the agent (safetensors + JSON).

Independent studies find tuned item/session-kNN often beats RL recommenders, so these are tuned, not
straw men. Each scores the vocabulary from a state's history and is served as a softmax policy so
off-policy estimators apply.
"""

from recrl.baselines.cf import ItemKNNPolicy, PureSVDPolicy, SessionKNNPolicy
from recrl.baselines.interactions import Interactions, interactions_from_transitions
from recrl.baselines.popularity import PopularityPolicy
from recrl.baselines.store import baseline_config, load_baseline, save_baseline
from recrl.baselines.tuning import SEARCH_SPACES, fit_baselines, make_criterion, tune

__all__ = [
    "SEARCH_SPACES",
    "Interactions",
    "ItemKNNPolicy",
    "PopularityPolicy",
    "PureSVDPolicy",
    "SessionKNNPolicy",
    "baseline_config",
    "fit_baselines",
    "interactions_from_transitions",
    "load_baseline",
    "make_criterion",
    "save_baseline",
    "tune",
]
