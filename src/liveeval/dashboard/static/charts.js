/* Time-series charts drawn with uPlot (from the npm registry at build time, served
   from this package: uplot.min.js). LE.plot(container, o) takes the same description
   as the SVG LE.timeChart:
     o.series: [{name, color, points: [{t (ms), v, lo, hi, est, tip}], shape: "diamond",
                 hatch, dash, gaps (ms)}]
     o.marks: [{t, label}] (dotted vertical lines), o.refs: [{v, label}] (dashed
     horizontal lines), o.xMin, o.xMax (ms), o.yMin, o.yMax, o.yFmt, o.title, o.empty.
   Realized points are filled circles, points still estimating hollow ones, estimates
   before labels hollow diamonds on a dashed line with a hatched band. Drag to zoom,
   double-click to reset; the chart takes the keyboard focus, and ← → Home End move
   the cursor from window to window, the readout under it saying what is there. */
"use strict";

LE.plot = (() => {
  const { h, replace } = LE;

  function hatch(color) {
    const c = document.createElement("canvas");
    const r = uPlot.pxRatio || 1;
    c.width = c.height = Math.round(8 * r);
    const g = c.getContext("2d");
    g.strokeStyle = color;
    g.globalAlpha = 0.5;
    g.lineWidth = 1.5 * r;
    g.beginPath();
    g.moveTo(0, c.height);
    g.lineTo(c.width, 0);
    g.stroke();
    return c;
  }
  function alpha(color, a) {
    const n = parseInt(color.slice(1), 16);
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
  }
  function yRange(o) {
    const ys = [];
    for (const se of o.series) for (const p of se.points) for (const k of ["v", "lo", "hi"]) if (Number.isFinite(p[k])) ys.push(p[k]);
    for (const r of o.refs || []) if (Number.isFinite(r.v)) ys.push(r.v);
    let y0 = o.yMin !== undefined ? o.yMin : Math.min(...ys);
    let y1 = o.yMax !== undefined ? o.yMax : Math.max(...ys);
    if (!ys.length) { y0 = o.yMin !== undefined ? o.yMin : 0; y1 = o.yMax !== undefined ? o.yMax : 1; }
    if (o.yMin === undefined && y0 > 0 && y0 < (y1 - y0)) y0 = 0;
    if (!(y1 > y0)) { const d = Math.abs(y0) * 0.1 || 0.5; y0 -= d; y1 += d; }
    const pad = o.yMax === undefined ? (y1 - y0) * 0.06 : 0;
    return [y0, y1 + pad];
  }

  // Tick labels measured in the axes' font (one canvas, kept).
  let measure = null;
  function labelWidth(text) {
    if (measure === null) {
      measure = document.createElement("canvas").getContext("2d");
      measure.font = "11px system-ui, sans-serif";
    }
    return measure.measureText(text).width;
  }

  /** The x values of every series (seconds), with an empty slot in each gap longer
      than a series allows, so that no line is drawn across it. */
  function xValues(o) {
    const ts = [...new Set(o.series.flatMap((se) => se.points.filter((p) => Number.isFinite(p.t)).map((p) => p.t)))].sort((a, b) => a - b);
    const gaps = o.series.map((se) => se.gaps).filter((g) => g > 0);
    const gap = gaps.length ? Math.min(...gaps) : Infinity;
    const out = [];
    ts.forEach((t, i) => {
      if (i && t - ts[i - 1] > gap) out.push({ t: (t + ts[i - 1]) / 2, gap: true });
      out.push({ t, gap: false });
    });
    return out;
  }

  function plot(container, o) {
    const xs = xValues(o);
    const width = Math.max(260, Math.floor(o.width || container.clientWidth || 600));
    const height = o.height || 200;
    const readout = h("p", { class: "readout small", "aria-live": "polite" });
    const counts = {};
    for (const se of o.series) counts[se.name] = se.points.filter((p) => Number.isFinite(p.v)).length;
    const frame = h("div", {
      class: "plot", tabindex: "0", role: "img",
      "aria-label": `${o.title || "chart"}: use the arrow keys to step through the windows`,
      "data-points": JSON.stringify(counts),
      "data-marks": (o.marks || []).map((m) => m.label).join(" "),
    });
    if (!xs.some((x) => !x.gap) || !o.series.some((se) => se.points.some((p) => Number.isFinite(p.v)))) {
      replace(container, h("div", { class: "plot empty", "data-points": JSON.stringify(counts) },
        h("p", { class: "muted small", text: o.empty || "no data in this range yet" })));
      return null;
    }
    const at = new Map(xs.map((x, i) => [x.t, i]));
    const data = [xs.map((x) => x.t / 1000)];
    const series = [{}];
    const bands = [];
    const lookups = [];
    for (const se of o.series) {
      const v = new Array(xs.length).fill(null), lo = v.slice(), hi = v.slice();
      const byIndex = new Map();
      for (const p of se.points) {
        const i = at.get(p.t);
        if (i === undefined || !Number.isFinite(p.v)) continue;
        v[i] = p.v;
        if (Number.isFinite(p.lo) && Number.isFinite(p.hi)) { lo[i] = p.lo; hi[i] = p.hi; }
        byIndex.set(i, p);
      }
      const line = data.length;
      data.push(v);
      series.push({
        label: se.name, stroke: se.color, width: se.width || 2,
        dash: Array.isArray(se.dash) ? se.dash : se.dash ? [5, 4] : undefined,
        spanGaps: false, points: { show: false },
      });
      lookups.push({ se, line, byIndex });
      if (lo.some((x) => x !== null)) {
        data.push(hi, lo);
        series.push({ label: `${se.name} upper`, stroke: "transparent", width: 0, spanGaps: false, points: { show: false } });
        series.push({ label: `${se.name} lower`, stroke: "transparent", width: 0, spanGaps: false, points: { show: false } });
        const fill = se.hatch ? hatch(se.color) : null;
        bands.push({ series: [line + 1, line + 2], fill: fill ? (u) => u.ctx.createPattern(fill, "repeat") : alpha(se.color, 0.18) });
      }
    }
    const [y0, y1] = yRange(o);
    const fmt = o.yFmt || LE.fmt;
    const r = () => uPlot.pxRatio || 1;

    /* Points (filled, hollow, diamonds), version marks and reference lines: drawn
       after the series, in canvas pixels. */
    function draw(u) {
      const ctx = u.ctx;
      const { left, top, width: pw, height: ph } = u.bbox;
      ctx.save();
      ctx.beginPath();
      ctx.rect(left, top, pw, ph);
      ctx.clip();
      ctx.font = `${11 * r()}px system-ui, sans-serif`;
      ctx.textAlign = "left";
      ctx.textBaseline = "alphabetic";
      for (const m of o.marks || []) {
        const x = u.valToPos(m.t / 1000, "x", true);
        if (!(x >= left && x <= left + pw)) continue;
        ctx.strokeStyle = "#555"; ctx.lineWidth = 1.5 * r(); ctx.setLineDash([1.5 * r(), 3 * r()]);
        ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + ph); ctx.stroke();
        ctx.setLineDash([]);
        ctx.fillStyle = "#333"; ctx.fillText(m.label, x + 3 * r(), top + 12 * r());
      }
      for (const ref of o.refs || []) {
        if (!Number.isFinite(ref.v)) continue;
        const y = u.valToPos(ref.v, "y", true);
        ctx.strokeStyle = "#444"; ctx.lineWidth = 1.2 * r(); ctx.setLineDash([5 * r(), 4 * r()]);
        ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(left + pw, y); ctx.stroke();
        ctx.setLineDash([]);
        // Labelled at the left (live data grows from the right), above the line, or
        // below it when the line runs along the top.
        const ty = y - top < 16 * r() ? y + 13 * r() : y - 4 * r();
        ctx.lineWidth = 3 * r(); ctx.strokeStyle = "#fff"; ctx.fillStyle = "#333";
        ctx.strokeText(ref.label, left + 4 * r(), ty);
        ctx.fillText(ref.label, left + 4 * r(), ty);
      }
      for (const { se, byIndex } of lookups) {
        for (const [i, p] of byIndex) {
          const x = u.valToPos(data[0][i], "x", true), y = u.valToPos(p.v, "y", true);
          ctx.lineWidth = 1.5 * r(); ctx.strokeStyle = se.color;
          ctx.beginPath();
          if (se.shape === "diamond") {
            const d = 4.5 * r();
            ctx.moveTo(x, y - d); ctx.lineTo(x + d, y); ctx.lineTo(x, y + d); ctx.lineTo(x - d, y); ctx.closePath();
            ctx.fillStyle = "#fff";
          } else {
            ctx.arc(x, y, (p.est ? 3.5 : 3) * r(), 0, 2 * Math.PI);
            ctx.fillStyle = p.est ? "#fff" : se.color;
          }
          ctx.fill(); ctx.stroke();
        }
      }
      ctx.restore();
    }
    function say(u) {
      const i = u.cursor.idx;
      if (i === null || i === undefined) { readout.textContent = ""; return; }
      const tips = lookups.map(({ se, byIndex }) => {
        const p = byIndex.get(i);
        return p ? p.tip || `${se.name}: ${fmt(p.v)}` : null;
      }).filter(Boolean);
      readout.textContent = tips.length ? tips.join(" · ") : `${LE.time(new Date(data[0][i] * 1000).toISOString())}: no value`;
    }
    const opts = {
      width, height, bands,
      legend: { show: false },
      scales: { x: { time: true, range: [o.xMin / 1000, (o.xMax > o.xMin ? o.xMax : o.xMin + 1000) / 1000] }, y: { range: [y0, y1] } },
      axes: [
        { stroke: "#5b6673", grid: { stroke: "#eef1f4", width: 1 }, ticks: { stroke: "#d5dbe1", width: 1 }, font: "11px system-ui, sans-serif" },
        { stroke: "#5b6673", grid: { stroke: "#eef1f4", width: 1 }, ticks: { stroke: "#d5dbe1", width: 1 }, font: "11px system-ui, sans-serif",
          // Wide enough for the longest tick label as the canvas measures it, beside the
          // tick (10 px) and its gap (5 px): an estimate per character clipped "75.0%".
          size: (u, values) => 21 + Math.ceil(Math.max(18, ...(values || []).map((v) => labelWidth(String(v))))),
          values: (u, splits) => splits.map((v) => fmt(v)) },
      ],
      cursor: { drag: { x: true, y: false }, points: { show: false } },
      series,
      hooks: { draw: [draw], setCursor: [say] },
    };
    replace(container, frame, readout);
    const u = new uPlot(opts, data, frame);
    // The keyboard: step the cursor through the windows that have a value.
    const stops = xs.map((x, i) => i).filter((i) => lookups.some(({ byIndex }) => byIndex.has(i)));
    let k = -1;
    frame.addEventListener("keydown", (e) => {
      const moves = { ArrowRight: 1, ArrowLeft: -1, Home: -Infinity, End: Infinity };
      if (!(e.key in moves)) return;
      e.preventDefault();
      // A range with no value (e.g. past the end of the traffic): nothing to step to.
      if (!stops.length) { readout.textContent = "No values in this range."; return; }
      const step = moves[e.key];
      k = step === -Infinity ? 0 : step === Infinity ? stops.length - 1 : Math.min(stops.length - 1, Math.max(0, k + step));
      const i = stops[k];
      const first = lookups.find(({ byIndex }) => byIndex.has(i));
      u.setCursor({ left: u.valToPos(data[0][i], "x"), top: u.valToPos(first.byIndex.get(i).v, "y") });
    });
    frame.addEventListener("blur", () => { k = -1; });
    return u;
  }
  return plot;
})();
