"""Small inline-SVG charts for the HTML report: no JavaScript, no CDN."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = [
    "CURRENT_COLOR",
    "OKABE_ITO",
    "PALETTE",
    "REFERENCE_COLOR",
    "Band",
    "Series",
    "band_chart",
    "heatmap",
    "histogram_chart",
    "interval_chart",
    "line_chart",
]

# Okabe & Ito's palette: told apart with the common colour-vision deficiencies (the
# dashboard uses the same).
OKABE_ITO = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "sky": "#56B4E9",
    "yellow": "#F0E442",
    "black": "#000000",
}
PALETTE = tuple(OKABE_ITO[k] for k in ("blue", "vermillion", "green", "purple", "orange", "sky"))
REFERENCE_COLOR = OKABE_ITO["blue"]
CURRENT_COLOR = OKABE_ITO["orange"]


@dataclass(frozen=True)
class Series:
    name: str
    x: Sequence[float | None]
    y: Sequence[float | None]
    color: str = PALETTE[0]
    dashed: bool = False
    points: bool = False


def _frame(width: int, height: int, title: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}" '
        'font-family="system-ui, sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
    ]


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    x_range: tuple[float, float] = (0.0, 1.0),
    y_range: tuple[float, float] = (0.0, 1.0),
    diagonal: bool = False,
    width: int = 360,
    height: int = 300,
    marker_x: float | None = None,
) -> str:
    legend = len(series) > 1
    left, right, top, bottom = 48, 12, 28, 42 + (18 if legend else 0)
    height += 18 if legend else 0
    pw, ph = width - left - right, height - top - bottom
    x0, x1 = x_range
    y0, y1 = y_range

    def sx(v: float) -> float:
        return left + (v - x0) / ((x1 - x0) or 1.0) * pw

    def sy(v: float) -> float:
        return top + ph - (v - y0) / ((y1 - y0) or 1.0) * ph

    out = _frame(width, height, title)
    out.append(f'<text x="{left}" y="16" font-size="13" font-weight="600">{escape(title)}</text>')
    out.append(
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fff" stroke="#cbd5e1"/>'
    )
    for i in range(6):
        fx = x0 + (x1 - x0) * i / 5
        fy = y0 + (y1 - y0) * i / 5
        out.append(
            f'<line x1="{sx(fx):.1f}" y1="{top}" x2="{sx(fx):.1f}" y2="{top + ph}" stroke="#f1f5f9"/>'
        )
        out.append(
            f'<line x1="{left}" y1="{sy(fy):.1f}" x2="{left + pw}" y2="{sy(fy):.1f}" stroke="#f1f5f9"/>'
        )
        out.append(
            f'<text x="{sx(fx):.1f}" y="{top + ph + 14}" text-anchor="middle" fill="#475569">{fx:.2g}</text>'
        )
        out.append(
            f'<text x="{left - 6}" y="{sy(fy) + 4:.1f}" text-anchor="end" fill="#475569">{fy:.2g}</text>'
        )
    out.append(
        f'<text x="{left + pw / 2}" y="{top + ph + 30}" text-anchor="middle" fill="#334155">{escape(x_label)}</text>'
    )
    out.append(
        f'<text transform="translate(12 {top + ph / 2}) rotate(-90)" text-anchor="middle" '
        f'fill="#334155">{escape(y_label)}</text>'
    )
    if diagonal:
        out.append(
            f'<line x1="{sx(x0)}" y1="{sy(y0)}" x2="{sx(x1)}" y2="{sy(y1)}" stroke="#94a3b8" '
            'stroke-dasharray="4 4"/>'
        )
    if marker_x is not None and x0 <= marker_x <= x1:
        out.append(
            f'<line x1="{sx(marker_x):.1f}" y1="{top}" x2="{sx(marker_x):.1f}" y2="{top + ph}" '
            'stroke="#64748b" stroke-dasharray="2 3"/>'
        )
    for s in series:
        pts = [(x, y) for x, y in zip(s.x, s.y, strict=True) if x is not None and y is not None]
        if not pts:
            continue
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        out.append(
            f'<polyline points="{path}" fill="none" stroke="{s.color}" stroke-width="1.8"{dash}/>'
        )
        if s.points:
            for x, y in pts:
                out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{s.color}"/>')
    if legend:
        # Below the plot, so a legend never covers a curve.
        lx = float(left)
        ly = height - 6
        for s_ in series:
            dash = ' stroke-dasharray="5 3"' if s_.dashed else ""
            out.append(
                f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 16}" y2="{ly - 4}" stroke="{s_.color}" '
                f'stroke-width="2"{dash}/>'
            )
            out.append(f'<text x="{lx + 20}" y="{ly}" fill="#334155">{escape(s_.name)}</text>')
            lx += 30 + 6.5 * len(s_.name)
    out.append("</svg>")
    return "".join(out)


def interval_chart(
    keys: Sequence[str],
    values: Sequence[float | None],
    lowers: Sequence[float | None],
    uppers: Sequence[float | None],
    *,
    title: str,
    y_label: str,
    reference: float | None = None,
    reference_label: str = "overall",
    width: int = 720,
    height: int = 260,
) -> str:
    """Point estimates with interval bars, one per key (segment, version or time bucket)."""
    # The right margin leaves room for the last rotated key label.
    left, right, top, bottom = 52, 44, 28, 70
    pw, ph = width - left - right, height - top - bottom
    known = [v for v in [*values, *lowers, *uppers] if v is not None]
    if reference is not None:
        known.append(reference)
    lo = min(known, default=0.0)
    hi = max(known, default=1.0)
    ticks = _nice_ticks(lo, hi)
    y0, y1 = ticks[0], ticks[-1]

    def sy(v: float) -> float:
        return top + ph - (v - y0) / ((y1 - y0) or 1.0) * ph

    n = max(len(keys), 1)
    step = pw / n
    out = _frame(width, height, title)
    out.append(f'<text x="{left}" y="16" font-size="13" font-weight="600">{escape(title)}</text>')
    out.append(
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fff" stroke="#cbd5e1"/>'
    )
    for fy in ticks:
        out.append(
            f'<line x1="{left}" y1="{sy(fy):.1f}" x2="{left + pw}" y2="{sy(fy):.1f}" stroke="#f1f5f9"/>'
        )
        out.append(
            f'<text x="{left - 6}" y="{sy(fy) + 4:.1f}" text-anchor="end" fill="#475569">{fy:g}</text>'
        )
    out.append(
        f'<text transform="translate(12 {top + ph / 2}) rotate(-90)" text-anchor="middle" '
        f'fill="#334155">{escape(y_label)}</text>'
    )
    if reference is not None:
        out.append(
            f'<line x1="{left}" y1="{sy(reference):.1f}" x2="{left + pw}" y2="{sy(reference):.1f}" '
            'stroke="#64748b" stroke-dasharray="4 3"/>'
        )
        out.append(
            f'<text x="{left + pw - 4}" y="{sy(reference) - 4:.1f}" text-anchor="end" fill="#64748b">'
            f"{escape(reference_label)} {reference:.3f}</text>"
        )
    label_every = max(1, len(keys) // 16)
    for i, key in enumerate(keys):
        cx = left + step * (i + 0.5)
        v, lo_i, hi_i = values[i], lowers[i], uppers[i]
        if lo_i is not None and hi_i is not None:
            out.append(
                f'<line x1="{cx:.1f}" y1="{sy(lo_i):.1f}" x2="{cx:.1f}" y2="{sy(hi_i):.1f}" '
                f'stroke="{PALETTE[0]}" stroke-width="2" opacity="0.6"/>'
            )
        if v is not None:
            out.append(
                f'<circle cx="{cx:.1f}" cy="{sy(v):.1f}" r="3.5" fill="{PALETTE[0]}">'
                f"<title>{escape(key)}: {v:.4f}</title></circle>"
            )
        if i % label_every == 0:
            out.append(
                f'<text transform="translate({cx:.1f} {top + ph + 10}) rotate(35)" fill="#475569">'
                f"{escape(key[:18])}</text>"
            )
    out.append("</svg>")
    return "".join(out)


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 × 10^k) that cover [lo, hi]."""
    span = hi - lo or max(abs(hi), 1e-3) * 0.1
    raw = span / (count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    value = start
    while value < hi + step * 0.999:
        ticks.append(round(value, 10))
        value += step
    if len(ticks) < 2:
        ticks.append(round(start + step, 10))
    return ticks


def heatmap(labels: Sequence[str], matrix: Sequence[Sequence[float]], *, title: str) -> str:
    """The confusion matrix, actual rows by predicted columns, shaded by row share."""
    k = len(labels)
    cell = 72 if k <= 4 else max(36, 300 // k)
    left, top = 120, 56
    width = left + cell * k + 16
    height = top + cell * k + 16
    out = _frame(width, height, title)
    out.append(f'<text x="4" y="16" font-size="13" font-weight="600">{escape(title)}</text>')
    out.append(
        f'<text x="{left + cell * k / 2}" y="34" text-anchor="middle" fill="#334155">predicted</text>'
    )
    for j, label in enumerate(labels):
        out.append(
            f'<text x="{left + cell * (j + 0.5)}" y="{top - 6}" text-anchor="middle" fill="#475569">'
            f"{escape(label[:12])}</text>"
        )
    for i, label in enumerate(labels):
        total = sum(matrix[i]) or 1.0
        out.append(
            f'<text x="{left - 8}" y="{top + cell * (i + 0.5) + 4}" text-anchor="end" fill="#475569">'
            f"actual {escape(label[:12])}</text>"
        )
        for j in range(k):
            v = matrix[i][j]
            share = v / total
            hue = "0,114,178" if i == j else "213,94,0"  # Okabe-Ito blue, vermillion
            text_fill = "#fff" if share > 0.55 else "#0f172a"
            out.append(
                f'<rect x="{left + cell * j}" y="{top + cell * i}" width="{cell - 2}" height="{cell - 2}" '
                f'fill="rgba({hue},{0.08 + 0.85 * share:.3f})" rx="3"/>'
            )
            shown = f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"
            out.append(
                f'<text x="{left + cell * (j + 0.5) - 1}" y="{top + cell * (i + 0.5) + 1}" '
                f'text-anchor="middle" fill="{text_fill}" font-weight="600">{shown}</text>'
            )
            out.append(
                f'<text x="{left + cell * (j + 0.5) - 1}" y="{top + cell * (i + 0.5) + 15}" '
                f'text-anchor="middle" fill="{text_fill}" font-size="10">{share:.1%}</text>'
            )
    out.append("</svg>")
    return "".join(out)


def histogram_chart(
    bins: Sequence[str],
    reference: Sequence[float],
    current: Sequence[float],
    *,
    title: str,
    width: int = 640,
    height: int = 220,
) -> str:
    """Reference vs current share per bin, side by side (reference blue, current
    orange; each bar's share in its tooltip), with a legend."""
    # The right margin leaves room for the last rotated bin label.
    left, right, top, bottom = 44, 48, 40, 78
    pw, ph = width - left - right, height - top - bottom
    out = _frame(width, height, title)
    out.append(f'<text x="4" y="16" font-size="13" font-weight="600">{escape(title)}</text>')
    for i, (name, color) in enumerate((("reference", REFERENCE_COLOR), ("current", CURRENT_COLOR))):
        lx = left + i * 100
        out.append(f'<rect x="{lx}" y="24" width="12" height="10" fill="{color}"/>')
        out.append(f'<text x="{lx + 16}" y="33" fill="#334155">{name}</text>')
    if not bins:
        out.append("</svg>")
        return "".join(out)
    top_share = max([*reference, *current, 1e-9])
    ticks = _nice_ticks(0.0, top_share, 4)
    y1 = ticks[-1] or 1.0

    def sy(v: float) -> float:
        return top + ph - v / y1 * ph

    for t in ticks:
        out.append(
            f'<line x1="{left}" y1="{sy(t):.1f}" x2="{left + pw}" y2="{sy(t):.1f}" stroke="#f1f5f9"/>'
        )
        out.append(
            f'<text x="{left - 6}" y="{sy(t) + 4:.1f}" text-anchor="end" fill="#475569">{t:.0%}</text>'
        )
    step = pw / len(bins)
    label_every = max(1, len(bins) // 14)
    for i, (label, r, c) in enumerate(zip(bins, reference, current, strict=True)):
        x = left + i * step
        for j, (v, color, side) in enumerate(
            ((r, REFERENCE_COLOR, "reference"), (c, CURRENT_COLOR, "current"))
        ):
            h = v / y1 * ph
            out.append(
                f'<rect x="{x + step * (0.08 + 0.42 * j):.1f}" y="{top + ph - h:.1f}" '
                f'width="{step * 0.4:.1f}" height="{h:.1f}" fill="{color}">'
                f"<title>{escape(label)}: {side} {v:.2%}</title></rect>"
            )
        if i % label_every == 0:
            cx = x + step / 2
            out.append(
                f'<text transform="translate({cx:.1f} {top + ph + 10}) rotate(35)" '
                f'font-size="10" fill="#475569">{escape(label[:22])}</text>'
            )
    out.append(
        f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="#94a3b8"/>'
    )
    out.append("</svg>")
    return "".join(out)


@dataclass(frozen=True)
class Band:
    """One metric over time: values with their interval (None where undefined)."""

    name: str
    values: Sequence[float | None]
    lowers: Sequence[float | None]
    uppers: Sequence[float | None]
    color: str = PALETTE[0]


def band_chart(
    keys: Sequence[str],
    bands: Sequence[Band],
    *,
    title: str,
    y_label: str,
    width: int = 720,
    height: int = 260,
    muted: Sequence[bool] | None = None,
) -> str:
    """Metrics over time windows as lines with shaded interval bands; ``muted`` windows
    (still estimating) get hollow points, so an unripe window never reads as final."""
    legend = len(bands) > 1
    left, right, top, bottom = 52, 48, 28, 62 + (18 if legend else 0)
    height += 18 if legend else 0
    pw, ph = width - left - right, height - top - bottom
    known = [v for b in bands for v in [*b.values, *b.lowers, *b.uppers] if v is not None]
    ticks = _nice_ticks(min(known, default=0.0), max(known, default=1.0))
    y0, y1 = ticks[0], ticks[-1]
    n = max(len(keys), 1)

    def sx(i: int) -> float:
        return left + (i + 0.5) * pw / n

    def sy(v: float) -> float:
        return top + ph - (v - y0) / ((y1 - y0) or 1.0) * ph

    out = _frame(width, height, title)
    out.append(f'<text x="{left}" y="16" font-size="13" font-weight="600">{escape(title)}</text>')
    out.append(
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fff" stroke="#cbd5e1"/>'
    )
    for fy in ticks:
        out.append(
            f'<line x1="{left}" y1="{sy(fy):.1f}" x2="{left + pw}" y2="{sy(fy):.1f}" stroke="#f1f5f9"/>'
        )
        out.append(
            f'<text x="{left - 6}" y="{sy(fy) + 4:.1f}" text-anchor="end" fill="#475569">{fy:g}</text>'
        )
    out.append(
        f'<text transform="translate(12 {top + ph / 2}) rotate(-90)" text-anchor="middle" '
        f'fill="#334155">{escape(y_label)}</text>'
    )
    for b in bands:
        # The band: runs of consecutive windows with an interval, as one polygon each.
        run: list[int] = []
        runs = []
        for i in range(len(keys)):
            if b.lowers[i] is not None and b.uppers[i] is not None:
                run.append(i)
            elif run:
                runs.append(run)
                run = []
        if run:
            runs.append(run)
        for r in runs:
            upper = [f"{sx(i):.1f},{sy(b.uppers[i]):.1f}" for i in r]  # type: ignore[arg-type]
            lower = [f"{sx(i):.1f},{sy(b.lowers[i]):.1f}" for i in reversed(r)]  # type: ignore[arg-type]
            out.append(
                f'<polygon points="{" ".join(upper + lower)}" fill="{b.color}" opacity="0.18"/>'
            )
        pts = [(i, v) for i, v in enumerate(b.values) if v is not None]
        if len(pts) > 1:
            path = " ".join(f"{sx(i):.1f},{sy(v):.1f}" for i, v in pts)
            out.append(
                f'<polyline points="{path}" fill="none" stroke="{b.color}" stroke-width="1.8"/>'
            )
        for i, v in pts:
            hollow = muted is not None and muted[i]
            fill = "#fff" if hollow else b.color
            lo, hi = b.lowers[i], b.uppers[i]
            interval = f" [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else ""
            out.append(
                f'<circle cx="{sx(i):.1f}" cy="{sy(v):.1f}" r="3" fill="{fill}" '
                f'stroke="{b.color}" stroke-width="1.5"><title>{escape(keys[i])} {escape(b.name)}: '
                f"{v:.4f}{interval}{' (estimating)' if hollow else ''}</title></circle>"
            )
    label_every = max(1, len(keys) // 12)
    for i, key in enumerate(keys):
        if i % label_every == 0:
            out.append(
                f'<text transform="translate({sx(i):.1f} {top + ph + 10}) rotate(35)" '
                f'font-size="10" fill="#475569">{escape(key[:16])}</text>'
            )
    if legend:
        lx, ly = float(left), float(height - 6)
        for b in bands:
            out.append(
                f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 16}" y2="{ly - 4}" stroke="{b.color}" '
                'stroke-width="2"/>'
            )
            out.append(f'<text x="{lx + 20}" y="{ly}" fill="#334155">{escape(b.name)}</text>')
            lx += 30 + 6.5 * len(b.name)
    out.append("</svg>")
    return "".join(out)
