"""Learned recommendation agents: the off-policy actor-critic over a BERT state encoder."""
