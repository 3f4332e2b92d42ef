"""Non-RL baselines: popularity and collaborative filtering (item-kNN, session-kNN, PureSVD).

Independent studies find tuned item/session-kNN often beats RL recommenders, so these are tuned, not
straw men. Each scores the vocabulary from a state's history and is served as a softmax policy so
off-policy estimators apply; its temperature is chosen on the validation split.
"""

from recrl.baselines.cf import ItemKNNPolicy, PopularityPolicy, PureSVDPolicy, SessionKNNPolicy, fit_baselines
from recrl.baselines.interactions import Interactions, interactions_from_transitions

__all__ = [
    "Interactions",
    "ItemKNNPolicy",
    "PopularityPolicy",
    "PureSVDPolicy",
    "SessionKNNPolicy",
    "fit_baselines",
    "interactions_from_transitions",
]
