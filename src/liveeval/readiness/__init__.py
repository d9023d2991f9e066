"""Readiness: use-case profiles, verdicts with reasons, and pitfall checks."""

from __future__ import annotations

from .leakage import duplicate_rows, later_training_rows, single_feature_leaks
from .pitfall import accuracy_paradox, holm, overfitting, single_class, too_few_labels
from .profile import (
    Check,
    Costs,
    Profile,
    builtin_profile,
    builtin_profiles,
    load_profile,
    load_profile_file,
    parse_costs,
    parse_profile,
    profile_by_name,
)
from .verdict import MODES, CheckResult, ErrorRates, Finding, Mode, Verdict, judge, verdict

__all__ = [
    "MODES",
    "Check",
    "CheckResult",
    "Costs",
    "ErrorRates",
    "Finding",
    "Mode",
    "Profile",
    "Verdict",
    "accuracy_paradox",
    "builtin_profile",
    "builtin_profiles",
    "duplicate_rows",
    "holm",
    "judge",
    "later_training_rows",
    "load_profile",
    "load_profile_file",
    "overfitting",
    "parse_costs",
    "parse_profile",
    "profile_by_name",
    "single_class",
    "single_feature_leaks",
    "too_few_labels",
    "verdict",
]
