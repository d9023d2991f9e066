"""Readiness: use-case profiles, verdicts with reasons, and pitfall checks."""

from __future__ import annotations

from .leakage import duplicate_rows, later_training_rows, single_feature_leaks
from .pitfall import accuracy_paradox, overfitting, too_few_labels
from .profile import Check, Profile, builtin_profiles, load_profile
from .verdict import CheckResult, Finding, Verdict, judge, verdict

__all__ = [
    "Check",
    "CheckResult",
    "Finding",
    "Profile",
    "Verdict",
    "accuracy_paradox",
    "builtin_profiles",
    "duplicate_rows",
    "judge",
    "later_training_rows",
    "load_profile",
    "overfitting",
    "single_feature_leaks",
    "too_few_labels",
    "verdict",
]
