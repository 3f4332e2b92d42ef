"""State builder: lake events -> item vocabulary and (state, action, reward, next state) transitions.

The SQL lives in ``sql/states``; see docs/states.md for the tables, reward attribution, the split
and the leakage guarantees.
"""

from recrl.states.build import StatesSummary, build_states
from recrl.states.export import TRANSITION_SCHEMA, TransitionArrays, load_transitions, to_arrays
from recrl.states.vocab import Vocabulary, load_vocab

__all__ = [
    "TRANSITION_SCHEMA",
    "StatesSummary",
    "TransitionArrays",
    "Vocabulary",
    "build_states",
    "load_transitions",
    "load_vocab",
    "to_arrays",
]
