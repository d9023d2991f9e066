"""Simulated error rates of liveeval's verdicts and pitfalls.

Each function draws ``reps`` data sets from a known population with a fixed seed,
runs the real verdict or pitfall code on each, and returns the rates that
``docs/verdicts.md`` quotes. Run ``python -m tests.readiness.verdict_sim [reps]`` to
print them.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

import numpy as np

from liveeval.metrics import (
    ConfusionMatrix,
    Evaluation,
    EvaluationResult,
    MetricResult,
    binary_metrics,
    wilson,
)
from liveeval.readiness import (
    Check,
    Profile,
    accuracy_paradox,
    builtin_profile,
    judge,
    overfitting,
    verdict,
)

SEED = 20261127
CHEAP = ("accuracy", "precision", "recall", "specificity", "f1")


def mc_error(rate: float, reps: int) -> float:
    """Monte-Carlo standard error of a simulated rate."""
    return math.sqrt(max(rate * (1.0 - rate), 1e-12) / reps)


def counts_result(tp: float, fn: float, fp: float, tn: float) -> EvaluationResult:
    """A binary result straight from confusion counts (no bootstrapped metrics)."""
    counts = np.array([[tn, fp], [fn, tp]], dtype=np.float64)
    cm = ConfusionMatrix((0, 1), counts, counts.copy())
    metrics = binary_metrics(cm, 1, 0.95, only=CHEAP)
    return EvaluationResult(
        "binary", (0, 1), 1, round(float(counts.sum())), 0.95, counts.tolist(), metrics, []
    )


def recall_only_result(tp: float, fn: float) -> EvaluationResult:
    """A binary result with only recall (Wilson), for simulations of many looks: an
    anytime verdict reads the counts, not the fixed-sample interval."""
    n = tp + fn
    lower, upper = wilson(tp, n)
    recall = MetricResult("recall", tp / n, lower, upper, round(n), 0.95, "wilson")
    counts = [[0.0, 0.0], [fn, tp]]
    return EvaluationResult("binary", (0, 1), 1, round(n), 0.95, counts, {"recall": recall}, [])


def _draw_binary(
    rng: np.random.Generator, rows: int, prevalence: float, recall: float, fpr: float
) -> tuple[np.ndarray, np.ndarray]:
    y = (rng.random(rows) < prevalence).astype(np.int64)
    hit = rng.random(rows)
    pred = np.where(y == 1, hit < recall, hit < fpr).astype(np.int64)
    return y, pred


def _full_result(y: np.ndarray, pred: np.ndarray) -> EvaluationResult:
    return Evaluation.create([0, 1], pos_label=1, with_scores=False).update_codes(y, pred).result()


def paradox_rates(
    reps: int, *, recall: float, target: float = 0.90, rows: int = 2000, prevalence: float = 0.05
) -> dict[str, float]:
    """How often the accuracy-paradox finding FAILs, and the fraud verdict FAILs.

    Fraud-like data: 5% positives, 1% false-positive rate, so accuracy is ~98% and
    precision ~80%; the minority (positive) class's recall is ``recall``.
    """
    rng = np.random.default_rng(SEED)
    fraud = builtin_profile("fraud")
    paradox_fail = verdict_fail = recall_fail = 0
    for _ in range(reps):
        y, pred = _draw_binary(rng, rows, prevalence, recall, 0.01)
        result = _full_result(y, pred)
        findings = accuracy_paradox(result, target)
        paradox_fail += any(f.severity == "fail" for f in findings)
        v = verdict(fraud, result, findings, settle=False)
        verdict_fail += v.status == "fail"
        recall_fail += any(c.check.metric == "recall" and c.status == "fail" for c in v.checks)
    return {
        "paradox_fail": paradox_fail / reps,
        "verdict_fail": verdict_fail / reps,
        "recall_check_fail": recall_fail / reps,
    }


def overfitting_rate(reps: int, *, rows: int = 1000) -> float:
    """How often train, validation and live drawn from one model are flagged."""
    rng = np.random.default_rng(SEED + 1)
    flagged = 0
    for _ in range(reps):
        stages = {}
        for stage in ("train", "validation", "live"):
            y = (rng.random(rows) < 0.3).astype(np.int64)
            s = 1.0 / (1.0 + np.exp(-rng.normal(-1.0 + 2.0 * y, 1.0)))
            ev = Evaluation.create([0, 1], pos_label=1).update_codes(y, score=s)
            stages[stage] = ev.result()
        flagged += bool(overfitting(stages))
    return flagged / reps


def settle_rate(
    reps: int,
    *,
    metric: str,
    rate: float,
    target: float,
    rows: int,
    prevalence: float = 0.2,
    mode: str = "fixed",
) -> dict[str, float]:
    """Of the inconclusive checks, how many settle after the suggested rows are added.

    The added rows are drawn at the *current* rates (the observed confusion-matrix
    shares), which is what "would settle it with 80% probability at the current
    rates" promises.
    """
    rng = np.random.default_rng(SEED + 2)
    check = Check(metric, ">=", target)
    profile = Profile("sim", "", (check,))
    asked = settled = 0
    suggested: list[int] = []
    for _ in range(reps * 20):
        if asked >= reps:
            break
        y, pred = _draw_binary(rng, rows, prevalence, rate if metric == "recall" else 0.8, 0.1)
        if metric == "precision":
            # precision ≈ rate: tune false positives to the positives caught
            caught = prevalence * 0.8
            fpr = caught * (1.0 - rate) / rate / (1.0 - prevalence)
            y, pred = _draw_binary(rng, rows, prevalence, 0.8, fpr)
        tp = float(((y == 1) & (pred == 1)).sum())
        fn = float(((y == 1) & (pred == 0)).sum())
        fp = float(((y == 0) & (pred == 1)).sum())
        tn = float(((y == 0) & (pred == 0)).sum())
        result = counts_result(tp, fn, fp, tn)
        first = verdict(profile, result, [], mode=mode).checks[0]  # type: ignore[arg-type]
        if first.status != "inconclusive" or first.more_rows_to_settle is None:
            continue
        asked += 1
        more = first.more_rows_to_settle
        suggested.append(more)
        cells = np.array([tp, fn, fp, tn])
        extra = rng.multinomial(more, cells / cells.sum())
        grown = counts_result(*(cells + extra))
        again = judge(
            check,
            grown.metrics[metric],
            grown.rows,
            mode=mode,  # type: ignore[arg-type]
            evaluation=grown,
            settle=False,
        )
        settled += again.status != "inconclusive"
    return {
        "settled": settled / max(asked, 1),
        "asked": asked,
        "median_rows": float(np.median(suggested)) if suggested else math.nan,
    }


def family_fail_rate(
    reps: int, *, checks: int, n: int = 100, rate: float = 0.9, mode: str = "fixed"
) -> float:
    """How often some check FAILs when every one of ``checks`` independent rates sits
    exactly on its target (``n`` trials each)."""
    rng = np.random.default_rng(SEED + 3)
    check = Check("recall", ">=", rate)
    failed = 0
    for _ in range(reps):
        any_fail = False
        for _ in range(checks):
            tp = float(rng.binomial(n, rate))
            result = counts_result(tp, n - tp, 0.0, 0.0)
            status = judge(
                check,
                result.metrics["recall"],
                n,
                mode=mode,  # type: ignore[arg-type]
                evaluation=result,
                settle=False,
            ).status
            any_fail |= status == "fail"
        failed += any_fail
    return failed / reps


def repeated_looks(
    reps: int,
    *,
    rate: float = 0.9,
    target: float = 0.9,
    step: int = 25,
    looks: int = 40,
    modes: Sequence[str] = ("fixed", "anytime"),
    light: bool = False,
) -> dict[str, dict[str, float]]:
    """A model exactly at its recall target, checked every ``step`` positives: how often
    the verdict PASSes (or FAILs) at some look, in each mode. ``light`` builds each
    look's result with recall alone (:func:`recall_only_result`), ten times faster."""
    rng = np.random.default_rng(SEED + 4)
    profile = Profile("sim", "", (Check("recall", ">=", target),))
    out: dict[str, dict[str, float]] = {}
    hits = rng.random((reps, step * looks)) < rate
    cumulative = np.cumsum(hits, axis=1)[:, step - 1 :: step]
    for mode in modes:
        passed = failed = one_look_pass = 0
        for r in range(reps):
            statuses = []
            for j in range(looks):
                n = step * (j + 1)
                tp = float(cumulative[r, j])
                if light:
                    result = recall_only_result(tp, n - tp)
                else:
                    result = counts_result(tp, n - tp, 0.0, 0.0)
                v = verdict(profile, result, [], mode=mode, settle=False)  # type: ignore[arg-type]
                statuses.append(v.status)
            passed += any(s in ("pass", "warn") for s in statuses)
            failed += "fail" in statuses
            one_look_pass += statuses[-1] in ("pass", "warn")
        out[mode] = {
            "pass_any_look": passed / reps,
            "fail_any_look": failed / reps,
            "pass_last_look": one_look_pass / reps,
        }
    return out


def main(reps: int) -> None:
    print(f"reps = {reps}; ± is the Monte-Carlo standard error\n")
    for recall in (0.90, 0.93):
        r = paradox_rates(reps, recall=recall)
        print(
            f"paradox, true recall {recall} vs 0.90: paradox FAIL {r['paradox_fail']:.3f}, "
            f"fraud verdict FAIL {r['verdict_fail']:.3f}, recall check FAIL "
            f"{r['recall_check_fail']:.3f} (± {mc_error(r['verdict_fail'], reps):.3f})"
        )
    rate = overfitting_rate(max(reps // 4, 50))
    print(
        f"overfitting flagged, same model: {rate:.3f} (± {mc_error(rate, max(reps // 4, 50)):.3f})"
    )
    for metric, true, target, rows in (
        ("recall", 0.93, 0.90, 1000),
        ("recall", 0.95, 0.90, 300),
        ("recall", 0.86, 0.90, 2000),
        ("precision", 0.90, 0.85, 1000),
    ):
        for mode in ("fixed", "anytime"):
            s = settle_rate(
                min(reps, 400), metric=metric, rate=true, target=target, rows=rows, mode=mode
            )
            print(
                f"settle {metric} {true} vs {target}, {rows} rows, {mode}: settled "
                f"{s['settled']:.3f} of {s['asked']} (median {s['median_rows']:.0f} more rows)"
            )
    for n in (100, 1000):
        for mode in ("fixed", "anytime"):
            for k in (1, 2, 5):
                f = family_fail_rate(reps, checks=k, n=n, mode=mode)
                print(
                    f"family, {k} checks at target, n={n}, {mode}: some FAIL {f:.3f} "
                    f"(± {mc_error(f, reps):.3f}); stated ≤ {min(1, k * 0.025):.3f}"
                )
    for mode, r in repeated_looks(reps).items():
        print(
            f"40 looks, {mode}: PASS at some look {r['pass_any_look']:.3f}, FAIL at some look "
            f"{r['fail_any_look']:.3f}, PASS at the last look alone {r['pass_last_look']:.3f}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
