"""Evaluation stage: off-policy estimates, ground truth and ranking metrics for every policy."""
