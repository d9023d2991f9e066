"""A drift result as one self-contained HTML page: the ranked table and, per column,
reference vs current shares per bin (inline SVG, no scripts, no external assets)."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from .svg import CURRENT_COLOR, REFERENCE_COLOR, histogram_chart

__all__ = ["drift_html", "write_drift_html"]

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:1em 0}td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:right}
td:nth-child(2),th:nth-child(2){text-align:left}.drifted{color:#b00;font-weight:bold}.muted{color:#777}
.col{margin:1.5em 0}.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}
svg{max-width:100%;height:auto}
"""


def _number(v: Any, fmt: str = ".3f") -> str:
    return "—" if v is None else format(v, fmt)


def drift_html(doc: dict[str, Any]) -> str:
    """The page for a drift document (``DriftReport.to_dict()``)."""
    rows = []
    sections = []
    for i, f in enumerate(doc["features"], start=1):
        e = f["effect"]
        interval = (
            f"[{_number(e['lower'])}, {_number(e['upper'])}]" if e["lower"] is not None else ""
        )
        status = {"drifted": "DRIFTED", "not_drifted": "no", "too_few_rows": "no call"}.get(
            f["status"], "—"
        )
        role = "" if f["role"] == "feature" else f" ({f['role']})"
        p_adj = f["p_adjusted"]
        rows.append(
            f"<tr><td>{i}</td><td>{escape(f['name'])}{escape(role)}</td><td>{f['kind']}</td>"
            f"<td>{f['method']['effect']}</td><td>{_number(e['value'])}</td><td>{interval}</td>"
            f"<td>{e['threshold']:g}</td><td>{'—' if p_adj is None else format(p_adj, '.2g')}</td>"
            f'<td class="{"drifted" if f["drifted"] else ""}">{status}</td></tr>'
        )
        h = f.get("histogram", {})
        why = f" — {escape(f['reason'])}" if f.get("reason") else ""
        sections.append(
            f'<div class="col"><h3>{i}. {escape(f["name"])}{escape(role)}: '
            f'<span class="{"drifted" if f["drifted"] else "muted"}">{status}</span>{why}</h3>'
            + histogram_chart(
                h.get("bins", []),
                h.get("reference", []),
                h.get("current", []),
                title=f"{f['name']}: share per bin",
                width=900,
            )
            + "".join(f'<p class="muted">{escape(n)}</p>' for n in f.get("notes", []))
            + "</div>"
        )
    skipped = "".join(
        f"<li>{escape(s['name'])}: {escape(s['reason'])}</li>" for s in doc.get("skipped", [])
    )
    ref, cur = doc["reference"], doc["current"]
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>liveeval drift</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<h1>Drift: {escape(ref['path'])} ({ref['rows']:,} rows) → {escape(cur['path'])} "
        f"({cur['rows']:,} rows)</h1>"
        f"<p><b>{len(doc['drifted_columns'])} of {len(doc['features'])} columns drifted</b>"
        f"{': ' + escape(', '.join(doc['drifted_columns'])) if doc['drifted_columns'] else ''}</p>"
        f'<p class="muted">Rule: {escape(doc["rule"]["description"])}.</p>'
        "<table><tr><th>#</th><th>column</th><th>kind</th><th>effect</th><th>value</th>"
        "<th>95% interval</th><th>threshold</th><th>p adj.</th><th>drifted</th></tr>"
        + "".join(rows)
        + "</table>"
        + (f"<p>Skipped:</p><ul>{skipped}</ul>" if skipped else "")
        + '<p class="legend">Shares per bin (numbers: reference deciles):'
        f'<span style="background:{REFERENCE_COLOR}"></span>reference'
        f'<span style="background:{CURRENT_COLOR}"></span>current</p>'
        + "".join(sections)
        + f'<p class="muted">liveeval {escape(doc["liveeval_version"])}, {escape(doc["generated_at"])}</p>'
        "</body></html>\n"
    )


def write_drift_html(doc: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(drift_html(doc), encoding="utf-8")
