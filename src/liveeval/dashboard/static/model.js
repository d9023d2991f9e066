/* Model page: metrics over time with interval bands, label coverage, latency against
   the profile's target, failed predictions, the confusion matrix of any window, the
   readiness verdict, versions side by side; drift and alerts when the server has them. */
"use strict";

(() => {
  const { h, api, replace } = LE;
  const enc = encodeURIComponent;
  const model = LE.modelFromPath();
  const base = `/v1/models/${enc(model)}`;
  const COMPARE = ["precision", "recall", "f1", "roc_auc", "accuracy", "latency_p95_seconds", "failed_prediction_rate"];

  // Persistent sections: their own controls survive every refresh (focus stays put).
  const sections = {};
  function section(id, title, intro, control) {
    const body = h("div", { class: "section-body" });
    const el = h("section", { id, class: "panel", "aria-labelledby": id + "-h" },
      h("div", { class: "panel-head" }, h("h2", { id: id + "-h", text: title }), control || null),
      intro ? h("p", { class: "muted small", text: intro }) : null,
      body);
    sections[id] = body;
    return el;
  }

  const metricSelect = h("select", { id: "metric", onchange: (e) => { LE.setState({ metric: e.target.value }); LE.refreshNow(); } });
  const cmSelect = h("select", { id: "cm-window", onchange: (e) => { LE.setState({ cm: e.target.value }); LE.refreshNow(); } });
  const versionSelect = h("select", { id: "version", onchange: (e) => { LE.setState({ version: e.target.value, cm: null }); LE.refreshNow(); } });
  const profileInput = h("input", { id: "profile", type: "text", size: 10, placeholder: "model's own", spellcheck: "false",
    onchange: (e) => { LE.setState({ profile: e.target.value.trim() }); LE.refreshNow(); } });

  function layout() {
    const main = document.getElementById("main");
    replace(main,
      h("div", { class: "title-row" },
        h("h1", {}, h("span", { class: "muted", text: "model " }), model),
        h("span", { id: "badge" })),
      h("div", { id: "headline", class: "headline" }),
      h("div", { class: "grid" },
        section("verdict", "Readiness verdict", null, h("label", { for: "profile", class: "inline" }, "Profile ", profileInput)),
        section("quality", "Quality over time", "One point per window of predictions (by prediction time), all versions together; the band is the interval. Filled points: realized windows (labels in). Diamonds with a hatched band: estimated before the labels arrive (from the scores or class probabilities, calibrated on the realized windows). Hollow points: the labels so far, when no estimate can be made. Dotted lines mark a new version.",
          h("label", { for: "metric", class: "inline" }, "Metric ", metricSelect)),
        section("coverage", "Label coverage over time", "Share of each window's predictions whose ground truth has arrived."),
        section("latency", "Latency", null),
        section("failed", "Failed predictions and errors", null),
        section("confusion", "Confusion matrix", null, h("label", { for: "cm-window", class: "inline" }, "Window ", cmSelect)),
        section("versions", "Versions side by side", "Each version over the chosen range."),
        section("drift", "Drift", null),
        // The alerts timeline of this model (GET /v1/alerts), filled by renderAlerts.
        section("alerts", "Alerts", null),
        section("server", "Server CPU and memory", "The server processes writing to this store (all models): CPU and resident memory per window, from the samples each server stores (GET /v1/resources), and the process answering now.")),
      h("p", { class: "links" },
        h("a", { id: "threshold-link", href: LE.link(`/models/${enc(model)}/threshold`, ["range", "refresh", "version"]), text: "Threshold explorer →" }),
        " · ", h("a", { id: "json-link", href: `${base}/metrics`, text: "metrics JSON" })));
  }

  function series(windows, name, pick) {
    const byVersion = new Map();
    for (const w of windows) {
      const key = w.version === null ? "all" : w.version;
      if (!byVersion.has(key)) byVersion.set(key, []);
      byVersion.get(key).push(w);
    }
    return [...byVersion.entries()].map(([version, ws], i) => ({
      name: version,
      color: LE.COLORS[i % LE.COLORS.length],
      points: ws.map((w) => {
        const p = pick(w);
        const t = (LE.ms(w.start) + LE.ms(w.end)) / 2;
        const tip = `${version} · ${LE.time(w.start)}–${LE.time(w.end)} · ${name}: ` +
          (p && Number.isFinite(p.v) ? `${p.text || LE.fmt(p.v)}` : "none") +
          ` · ${LE.count(w.predictions)} predictions, ${LE.count(w.labelled)} labelled (${LE.pct(w.label_coverage)}), ${w.state}`;
        return { t, est: w.state !== "realized", tip, ...(p || {}) };
      }),
    }));
  }
  /* A uPlot chart (charts.js) with its legend under it. */
  function chart(container, o, note) {
    const box = h("div", { class: "plot-box" });
    // The legend names the series that have a point in the range.
    replace(container, box, LE.legend(o.series.filter((se) => se.points.some((pt) => Number.isFinite(pt.v))), note === undefined ? "filled = realized, hollow = estimating (labels still arriving)" : note));
    LE.paintSwatches(container);
    LE.plot(box, { ...o, width: container.clientWidth || 600 });
  }
  function metricPoint(w, name) {
    const m = w.metrics[name];
    if (!m || m.value === null) return null;
    return { v: m.value, lo: m.lower, hi: m.upper, text: `${LE.fmt(m.value, name)} [${LE.interval(m, name)}]` };
  }

  /* Realized values, estimates before labels (a second read without grouping by
     version: estimates are made for the model's windows as a whole) and the labels so
     far where no estimate could be made; a dotted line where a version first appears. */
  function qualityWindows(sec, names, version) {
    // At most 30 windows: a quality metric needs more labels per window than a count.
    // Whole 15-minute buckets at least: estimates before labels are made only for those
    // (a 5m window's estimate is never available, which the page's user cannot change).
    const size = sec <= 30 * 900 ? "15m" : LE.windowSize(sec, 30);
    const q = `size=${size}&${LE.span(sec)}${names.map((n) => "&metrics=" + enc(n)).join("")}${version ? "&version=" + enc(version) : ""}`;
    return api(`${base}/windows?${q}`);
  }
  /* The quality chart's likely metrics, read at once with the other reads (not after the
     metrics read has named the profile's): what the built-in profiles judge first and
     the estimates before labels cover. Another metric is read once it is known. */
  const QUALITY_GUESS = ["recall", "precision", "f1", "accuracy", "specificity", "roc_auc"];
  async function renderQuality(answer, chosen, target, byVersion, xMin, xMax) {
    const win = await answer;
    const realized = [], partial = [], estimated = [];
    for (const w of win.windows) {
      const t = (LE.ms(w.start) + LE.ms(w.end)) / 2;
      const when = `${LE.time(w.start)}–${LE.time(w.end)}`;
      const counts = `${LE.count(w.predictions)} predictions, ${LE.count(w.labelled)} labelled (${LE.pct(w.label_coverage)})`;
      const m = metricPoint(w, chosen);
      const e = w.estimate && w.estimate.metrics ? w.estimate.metrics[chosen] : null;
      if (w.state === "realized" && m) realized.push({ t, ...m, tip: `${when} · ${LE.metricName(chosen)} ${m.text} · realized · ${counts}` });
      else if (e && e.value !== null && e.value !== undefined) {
        estimated.push({ t, v: e.value, lo: e.lower, hi: e.upper, tip: `${when} · ${LE.metricName(chosen)} estimated ${LE.fmt(e.value, chosen)} [${LE.interval(e, chosen)}] before labels · ${counts}${w.estimate.trusted === false ? " · " + (w.estimate.reason || "not trusted") : ""}` });
      } else if (m) partial.push({ t, v: m.v, est: true, tip: `${when} · ${LE.metricName(chosen)} ${m.text} on the labels so far · estimating · ${counts}` });
    }
    const gap = 1.5 * (LE.seconds(win.size) || 3600) * 1000;
    const seriesList = [
      { name: "realized", color: LE.COLORS[0], points: realized, gaps: gap },
      { name: "estimated before labels", color: LE.COLORS[5], points: estimated, shape: "diamond", hatch: "est", dash: true, gaps: gap },
    ];
    if (partial.length) seriesList.push({ name: "labels so far (no estimate)", color: LE.COLORS[2], points: partial, gaps: gap });
    const marks = [];
    const firstSeen = new Map();
    for (const w of byVersion) if (w.version !== null && w.predictions > 0 && !firstSeen.has(w.version)) firstSeen.set(w.version, LE.ms(w.start));
    [...firstSeen.entries()].slice(1).forEach(([v, t]) => marks.push({ t, label: v }));
    const box = h("div", { class: "chart-box" });
    const est = win.estimation || {};
    replace(sections.quality, box,
      h("p", { class: "small muted", text: `Windows of ${win.size}; ${win.maturity_rule}. ` +
        (est.available ? (est.method ? `Estimates: ${est.method}; reference: ${est.reference}.` : est.reason || "") : `No estimates: ${est.reason || "not available"}.`) }));
    chart(box, {
      title: `${LE.metricName(chosen)} per window`, series: seriesList, marks,
      xMin, xMax, yFmt: (v) => LE.fmt(v, chosen),
      refs: target ? [{ v: target.target, label: `target ${target.op} ${LE.fmt(target.target, chosen)}` }] : [],
      empty: "no labelled predictions in this range yet",
    }, marks.length ? "dotted line: a new version" : null);
    sections.quality.dataset.realized = String(realized.length);
    sections.quality.dataset.estimated = String(estimated.length);
  }

  function renderVerdict(body) {
    const box = sections.verdict;
    const v = body.verdict;
    replace(document.getElementById("badge"), LE.badge(body));
    if (!v) {
      replace(box, h("p", { class: "muted", text: body.labelled
        ? "No use-case profile judges this model: give one above (e.g. fraud, spam, balanced, realtime) or set 'profile' in its [[models]] entry."
        : "No labelled predictions in this range yet: the verdict needs ground truth." }));
      return;
    }
    const checks = h("ul", { class: "checks" }, v.checks.map((c) => h("li", { class: `check ${c.status}` },
      h("div", { class: "check-head" },
        h("span", { class: `pill ${c.status}`, text: c.status }),
        h("strong", { text: `${LE.metricName(c.metric)} ${c.op} ${LE.fmt(c.target, c.metric)}` })),
      h("div", {}, "measured ", LE.metric({ value: c.value, lower: c.lower, upper: c.upper, n: c.n, method: c.method, confidence: body.metrics[c.metric] ? body.metrics[c.metric].confidence : 0.95 }, c.metric),
        h("span", { class: "muted small", text: ` · n = ${LE.count(c.n)}` })),
      c.reason ? h("div", { class: "small", text: c.reason }) : null,
      c.more_rows_to_settle ? h("div", { class: "small muted", text: `about ${LE.count(c.more_rows_to_settle)} more labelled rows would settle it` }) : null)));
    const findings = (v.findings || []).length
      ? h("div", {}, h("h3", { text: "Pitfalls found" }),
        h("ul", { class: "findings" }, v.findings.map((f) => h("li", { class: `finding ${f.severity}` },
          h("span", { class: `pill ${f.severity}`, text: f.severity }), " ", h("strong", { text: f.name.replace(/_/g, " ") }), ": ", f.message))))
      : h("p", { class: "muted small", text: "No pitfalls found." });
    replace(box,
      h("p", { class: "summary", text: v.summary }),
      checks, findings,
      v.error_rates && v.error_rates.text ? h("details", {}, h("summary", { text: "How often can this verdict be wrong?" }), h("p", { class: "small", text: v.error_rates.text })) : null);
  }

  function renderHeadline(body) {
    const m = body.metrics || {};
    const item = (label, value, tip) => h("div", { class: "stat", title: tip || null }, h("div", { class: "stat-label", text: label }), h("div", { class: "stat-value" }, value));
    replace(document.getElementById("headline"),
      item("predictions", LE.count(body.predictions)),
      item("labelled", `${LE.count(body.labelled)} (${LE.pct(body.label_coverage)})`, "label coverage: labelled / successful predictions"),
      item("failed", `${LE.count(body.failed_predictions)}`, "predictions the model failed on"),
      item("p95 latency", LE.metric(m.latency_p95_seconds, "latency_p95_seconds")),
      body.unmatched_outcomes ? item("unmatched outcomes", LE.count(body.unmatched_outcomes), "server-wide: outcomes whose prediction is unknown") : null);
  }

  function sloOf(body) {
    const checks = (body.verdict && body.verdict.checks) || [];
    return checks.filter((c) => LE.isLatency(c.metric));
  }

  function renderLatency(body, windows, xMin, xMax) {
    const m = body.metrics || {};
    const slo = sloOf(body);
    const box = sections.latency;
    const names = ["latency_p50_seconds", "latency_p95_seconds", "latency_p99_seconds"];
    const table = h("dl", { class: "facts" }, names.map((n) => h("div", {}, h("dt", { text: LE.metricName(n) }), h("dd", {}, LE.metric(m[n], n)))));
    const chartBox = h("div", { class: "chart-box" });
    replace(box, table,
      h("p", { class: "small", text: slo.length
        ? "Target: " + slo.map((c) => `${LE.metricName(c.metric)} ${c.op} ${LE.fmt(c.target, c.metric)} (${c.status})`).join("; ")
        : "The profile sets no latency target (the realtime profile does: p95 < 100 ms)." }),
      chartBox);
    // p95 solid with its interval, p50 dotted, p99 dashed, one colour per version; the
    // profile's latency targets as reference lines.
    const percentiles = [];
    for (const n of ["latency_p95_seconds", "latency_p50_seconds", "latency_p99_seconds"]) {
      const label = LE.metricName(n).replace(" latency", "");
      for (const se of series(windows, LE.metricName(n), (w) => metricPoint(w, n))) {
        if (n !== "latency_p95_seconds") for (const p of se.points) { delete p.lo; delete p.hi; }
        const style = { latency_p95_seconds: {}, latency_p50_seconds: { dash: [2, 3], width: 1.5 }, latency_p99_seconds: { dash: [7, 4], width: 1.5 } }[n];
        percentiles.push({ ...se, ...style, name: `${se.name} ${label}` });
      }
    }
    chart(chartBox, {
      title: "latency percentiles per window",
      series: percentiles,
      xMin, xMax, yMin: 0, yFmt: (v) => LE.fmt(v, "latency_p95_seconds"),
      refs: slo.map((c) => ({ v: c.target, label: `target: ${LE.metricName(c.metric)} ${c.op} ${LE.fmt(c.target, c.metric)}` })),
      empty: "no predictions in this range yet",
    }, "p95 solid (band: its interval), p50 dotted, p99 dashed");
  }

  function failuresOf(sec, version) {
    return api(`${base}/failures?size=${LE.windowSize(sec)}&${LE.span(sec)}${version ? "&version=" + enc(version) : ""}`);
  }
  async function renderFailed(body, windows, xMin, xMax, answer) {
    const m = (body.metrics || {}).failed_prediction_rate;
    const chartBox = h("div", { class: "chart-box" });
    const typesBox = h("div", { class: "chart-box", id: "failure-types" });
    replace(sections.failed,
      h("p", {}, `${LE.count(body.failed_predictions)} of ${LE.count(body.predictions)} predictions failed: `, LE.metric(m, "failed_prediction_rate"),
        h("span", { class: "muted small", text: " (the model raised an error; logged with its error type, left out of the quality metrics)" })),
      chartBox, typesBox);
    chart(chartBox, {
      title: "failed-prediction rate per window",
      series: series(windows, "failed-prediction rate", (w) => metricPoint(w, "failed_prediction_rate")),
      xMin, xMax, yMin: 0, yFmt: (v) => LE.pct(v),
    });
    const f = await answer;
    if (!f.failed) { replace(typesBox, h("p", { class: "muted small", text: "No failed predictions in this range." })); return; }
    const types = f.error_types.slice(0, 6).map((t) => t.error_type);
    // Every window of the range, with zero where nothing failed (the route lists only
    // windows with failures).
    const allStarts = [...new Set(windows.map((w) => w.start))].sort((a, b) => LE.ms(a) - LE.ms(b));
    const perType = types.map((t, i) => {
      const byStart = new Map(allStarts.map((start) => [start, 0]));
      for (const w of f.windows) {
        const key = allStarts.find((x) => LE.ms(x) === LE.ms(w.start)) || w.start;
        byStart.set(key, (byStart.get(key) || 0) + (w.by_error_type[t] || 0));
      }
      return {
        name: t || "(no type)", color: LE.COLORS[(i + 1) % LE.COLORS.length],
        points: [...byStart.entries()].sort((a, b) => LE.ms(a[0]) - LE.ms(b[0])).map(([start, n]) => ({ t: LE.ms(start) + (LE.seconds(f.size) || 0) * 500, v: n, tip: `${LE.time(start)} · ${t || "(no type)"}: ${LE.count(n)} failed` })),
      };
    });
    const typesChart = h("div", { class: "chart-box" });
    replace(typesBox,
      h("h3", { text: "Failed predictions by error type" }),
      typesChart,
      h("table", { class: "types" }, h("tr", {}, h("th", { text: "error type" }), h("th", { text: "failed" })),
        f.error_types.map((t) => h("tr", {}, h("td", {}, h("code", { text: t.error_type || "(no type)" })), h("td", { class: "n", text: LE.count(t.failed) })))));
    chart(typesChart, { title: `failed predictions per ${f.size} window, by error type`, series: perType, xMin, xMax, yMin: 0, yFmt: (v) => LE.count(v), height: 170 }, null);
  }

  function renderConfusion(body, windows, st) {
    const options = [["", "whole range"]].concat(windows.filter((w) => w.labelled > 0).map((w) => [
      `${w.start}|${w.version === null ? "" : w.version}`,
      `${LE.time(w.start)}–${LE.time(w.end)}${w.version === null ? "" : " · " + w.version} · ${LE.count(w.labelled)} labelled`,
    ]));
    replace(cmSelect, options.map(([v, t]) => h("option", { value: v, text: t })));
    const chosen = options.some(([v]) => v === (st.cm || "")) ? st.cm || "" : "";
    cmSelect.value = chosen;
    if (!chosen) {
      replace(sections.confusion, LE.confusion(body.confusion_matrix, `All labelled predictions in the range${st.version ? " of " + st.version : ""}`));
      return;
    }
    const [start, version] = chosen.split("|");
    const w = windows.find((x) => x.start === start && (x.version === null ? "" : x.version) === version);
    replace(sections.confusion,
      LE.confusion(w.confusion_matrix, `${LE.time(w.start)}–${LE.time(w.end)}${version ? " · " + version : ""}`),
      h("p", { class: "small muted", text: `${LE.count(w.labelled)} labelled of ${LE.count(w.predictions)} predictions (${LE.pct(w.label_coverage)}), ${w.state}.` }));
  }

  /* Each version's card from one read (GET /v1/models/{m}/versions), in the order the
     versions first took traffic in the range (their colours on the charts). */
  async function renderVersions(answer, seen) {
    const cards = new Map(((await answer).versions || []).map((c) => [c.version, c]));
    const bodies = seen.filter((v) => cards.has(v)).map((v) => [v, cards.get(v)]);
    replace(sections.versions, bodies.length
      ? h("div", { class: "versions" }, bodies.map(([v, b], i) => h("div", { class: "version-card" },
        h("div", { class: "card-head" }, h("h3", {}, h("span", { class: "swatch", "data-color": LE.COLORS[i % LE.COLORS.length] }), v), LE.badge(b)),
        h("dl", { class: "facts" },
          h("div", {}, h("dt", { text: "predictions" }), h("dd", { text: `${LE.count(b.predictions)} · ${LE.pct(b.label_coverage)} labelled` })),
          COMPARE.filter((n) => b.metrics && b.metrics[n] && (b.labelled || LE.isLatency(n) || n === "failed_prediction_rate")).map((n) => h("div", {}, h("dt", { text: LE.metricName(n) }), h("dd", {}, LE.metric(b.metrics[n], n))))))))
      : h("p", { class: "muted", text: "No predictions in this range." }));
    LE.paintSwatches(sections.versions);
  }

  /* Drift of the range's windows against a reference. The latest window's columns,
     ranked as the engine ranks them, with the rule that decided; each one's effect
     over the range; the most drifted ones' reference and latest histograms. */
  const DRIFT_SIZES = [[900, "15m"], [3600, "1h"], [10800, "3h"], [21600, "6h"], [43200, "12h"], [86400, "1d"], [604800, "7d"]];
  async function renderDrift(seen, version, sec, firstData, predictions) {
    const box = sections.drift;
    const since = LE.sinceIso(sec);
    // The first version when there are several; else the day before the range, or,
    // when that holds nothing (a young deployment), the first quarter of the range's data.
    const first = Math.max(LE.ms(since), firstData === null ? LE.ms(since) : firstData);
    const quarter = `${new Date(first).toISOString()}/${new Date(first + (LE.now() - first) / 4).toISOString()}`;
    const references = seen.length > 1 ? [`version:${seen[0]}`] : ["previous:1d", quarter];
    // Windows holding enough rows for a call (the rule wants 100 on each side): the
    // smallest size that gives about 200 predictions a window at the range's rate, and
    // at most 60 windows over the range.
    const rate = predictions / sec;
    const windowSize = (DRIFT_SIZES.find(([s2]) => s2 * rate >= 200 && sec / s2 <= 60) || DRIFT_SIZES[DRIFT_SIZES.length - 1])[1];
    let body = null, path = "", reference = "";
    for (reference of references) {
      path = `${base}/drift?reference=${enc(reference)}&window=${windowSize}&${LE.span(sec)}${version ? "&version=" + enc(version) : ""}`;
      try { body = await LE.optional(path); } catch (e) {
        replace(box, h("p", { class: "muted", text: `Drift: ${e.message}` }));
        return;
      }
      if (body === null) {
        replace(box, h("p", { class: "muted", text: "Drift: not yet available on this server." }));
        return;
      }
      if (body.latest && body.latest.columns && body.latest.columns.length) break;
    }
    const cols = (body.latest && body.latest.columns) || [];
    if (!cols.length) {
      replace(box, h("p", { class: "muted", text: `Drift: nothing to compare yet (reference ${reference}; windows of ${windowSize} in this range).` }));
      return;
    }
    const drifted = cols.filter((c) => c.drifted).map((c) => c.name);
    const rows = cols.map((c) => h("tr", { class: c.drifted ? "drifted" : "" },
      h("td", { class: "l", text: c.name }),
      h("td", { class: "l wide", text: c.role }),
      // The interval under the value on a phone: the call column stays in view.
      h("td", {}, c.effect.value === null ? "—" : c.effect.value.toFixed(3),
        c.effect.value === null || c.effect.lower === null ? null : h("span", { class: "ci", text: ` (${c.effect.lower.toFixed(3)}–${c.effect.upper.toFixed(3)})` })),
      h("td", { class: "wide", text: c.effect.threshold.toFixed(2) }),
      h("td", { class: "wide", text: c.p_adjusted === null ? "—" : c.p_adjusted < 1e-4 ? "<0.0001" : c.p_adjusted.toFixed(4) }),
      h("td", { class: "l", text: c.status.replace(/_/g, " ") })));
    const overTime = h("div", { class: "chart-box" });
    const shown = cols.slice(0, 4);
    // The latest window is often young (a few predictions): then the call is the last
    // window's that holds enough rows for one, said as such.
    const called = (w) => w.columns.some((c) => c.status !== "too_few_rows");
    const span = (w) => `${LE.time(w.start)}–${LE.time(w.end)}`;
    let headline;
    if (cols.some((c) => c.status !== "too_few_rows")) {
      headline = drifted.length ? h("strong", { text: `Drifted in the latest window: ${drifted.join(", ")}. ` }) : "No drift in the latest window. ";
    } else {
      const last = [...body.windows].reverse().find(called);
      const then = last ? last.columns.filter((c) => c.status === "drifted").map((c) => c.name) : [];
      headline = [
        "The latest window holds too few predictions for a call (the rule needs 100 on each side). ",
        !last ? null : then.length ? h("strong", { text: `Drifted in the last window with a call (${span(last)}): ${then.join(", ")}. ` })
          : `No drift in the last window with a call (${span(last)}). `,
      ];
    }
    replace(box,
      h("p", {}, headline,
        h("span", { class: "muted", text: `Reference ${body.reference.given}; latest window from ${LE.time(body.latest.start)}.` })),
      h("div", { class: "scroll" }, h("table", { class: "drift" },
        h("tr", {}, ["column", "role", "effect (interval)", "threshold", "p adjusted", "call"].map((t, i) => h("th", { class: (i < 2 || i === 5 ? "l" : "") + (i === 1 || i === 3 || i === 4 ? " wide" : ""), text: t }))),
        rows)),
      h("p", { class: "muted small", text: body.rule.description }),
      h("h3", { text: "Effect over time (the columns drifted most often)" }),
      overTime,
      h("h3", { text: "Reference vs latest window" }),
      h("div", { class: "hists", id: "drift-hists" }, shown.map((c) => histogram(c))),
      h("p", {}, h("a", { href: path, text: "drift JSON" })));
    // The columns drifted in the most windows of the range, then the latest's ranking.
    const times = new Map(cols.map((c) => [c.name, 0]));
    for (const w of body.windows) for (const c of w.columns) if (c.status === "drifted") times.set(c.name, (times.get(c.name) || 0) + 1);
    const names = cols.map((c, i) => [c.name, times.get(c.name) || 0, i]).sort((a, b) => b[1] - a[1] || a[2] - b[2]).slice(0, 3).map(([n]) => n);
    const effectSeries = names.map((n, i) => ({
      name: n, color: LE.COLORS[i % LE.COLORS.length],
      points: body.windows.map((w) => {
        const c = w.columns.find((x) => x.name === n);
        const t = (LE.ms(w.start) + LE.ms(w.end)) / 2;
        return { t, v: c && c.effect !== null ? c.effect : null, est: false, tip: c ? `${LE.time(w.start)} · ${n}: effect ${c.effect === null ? "—" : c.effect.toFixed(3)} (threshold ${c.threshold}) · ${c.status.replace(/_/g, " ")}` : undefined };
      }),
    }));
    const thresholds = [...new Set(cols.filter((c) => names.includes(c.name)).map((c) => c.effect.threshold))];
    chart(overTime, {
      title: "drift effect per window", series: effectSeries, xMin: LE.now() - sec * 1000, xMax: LE.now(), yMin: 0,
      refs: thresholds.map((t) => ({ v: t, label: `threshold ${t}` })), height: 170,
    }, null);
  }

  /* A column's reference and latest-window shares on the engine's bins (reference
     deciles for numbers, categories otherwise), as drawn by the drift JSON. */
  function histogram(c) {
    const hist = c.histogram || { bins: [], reference: [], current: [] };
    const fig = h("figure", { "data-column": c.name },
      h("figcaption", {}, h("strong", { text: c.name }), ` · ${c.status.replace(/_/g, " ")} · effect ${c.effect.value === null ? "—" : c.effect.value.toFixed(3)}`));
    if (!hist.bins.length) { fig.append(h("p", { class: "muted small", text: "no bins to draw" })); return fig; }
    const sides = [
      { name: "reference", color: LE.COLORS[6], values: hist.reference },
      { name: "latest window", color: c.drifted ? LE.COLORS[5] : LE.COLORS[0], values: hist.current },
    ];
    fig.append(LE.barsChart({ title: `${c.name}: share per bin, reference vs latest window`, bins: hist.bins, sides, width: 300 }), LE.legend(sides));
    LE.paintSwatches(fig);
    return fig;
  }

  function firstData(windows) {
    const starts = windows.filter((w) => w.predictions > 0).map((w) => LE.ms(w.start));
    return starts.length ? Math.min(...starts) : null;
  }

  /* The server's CPU and memory per window (GET /v1/resources), and the answering
     process now (its this_process: what /metrics exposes as process_*, without the
     gauges' reads). */
  async function renderServer(sec) {
    const r = await LE.optional(`/v1/resources?size=${LE.windowSize(sec)}&${LE.span(sec)}`);
    if (r === null) { replace(sections.server, h("p", { class: "muted", text: "Resources: not yet available on this server." })); return; }
    const me = r.this_process || {};
    const cpuBox = h("div", { class: "chart-box", id: "cpu-chart" });
    const memBox = h("div", { class: "chart-box", id: "memory-chart" });
    replace(sections.server, h("dl", { class: "facts" },
      h("div", {}, h("dt", { text: "memory (RSS) now" }), h("dd", { text: me.rss_bytes === undefined ? "—" : (me.rss_bytes / 1048576).toFixed(0) + " MiB" })),
      h("div", {}, h("dt", { text: "CPU time used" }), h("dd", { text: me.cpu_seconds === undefined ? "—" : me.cpu_seconds.toFixed(1) + " s" })),
      h("div", {}, h("dt", { text: "process started" }), h("dd", { text: me.started === undefined ? "—" : new Date(me.started).toLocaleString("en-GB") }))),
      cpuBox, memBox);
    const xMax = LE.now(), xMin = xMax - sec * 1000;
    const procs = r.processes.slice(-4);
    const mid = (w) => (LE.ms(w.start) + LE.ms(w.end)) / 2;
    const cpuSeries = procs.map((p, i) => ({
      name: p.process, color: LE.COLORS[i % LE.COLORS.length], gaps: 1.5 * (LE.seconds(r.size) || 60) * 1000,
      points: p.windows.map((w) => ({ t: mid(w), v: w.cpu_percent_mean, lo: w.cpu_percent_mean, hi: w.cpu_percent_max, tip: `${LE.time(w.start)} · CPU mean ${w.cpu_percent_mean.toFixed(1)}%, max ${w.cpu_percent_max.toFixed(1)}% · ${w.samples} samples` })),
    }));
    const memSeries = procs.map((p, i) => ({
      name: p.process, color: LE.COLORS[i % LE.COLORS.length], gaps: 1.5 * (LE.seconds(r.size) || 60) * 1000,
      points: p.windows.map((w) => ({ t: mid(w), v: w.rss_bytes_max / 1048576, tip: `${LE.time(w.start)} · memory max ${(w.rss_bytes_max / 1048576).toFixed(0)} MiB, mean ${(w.rss_bytes_mean / 1048576).toFixed(0)} MiB` })),
    }));
    const cpuChart = h("div"), memChart = h("div");
    replace(cpuBox, h("h3", { text: "CPU, % of one core (line: mean; band up to the max)" }), cpuChart);
    replace(memBox, h("h3", { text: "Resident memory (max per window)" }), memChart);
    chart(cpuChart, { title: "server CPU per window", series: cpuSeries, xMin, xMax, yMin: 0, yFmt: (v) => v.toFixed(0) + "%", height: 160, empty: "no resource samples in this range" }, null);
    chart(memChart, { title: "server memory per window", series: memSeries, xMin, xMax, yMin: 0, yFmt: (v) => v.toFixed(0) + " MiB", height: 160, empty: "no resource samples in this range" }, null);
  }

  /* The alerts timeline of this model (GET /v1/alerts: AlertNotice.to_json() objects):
     firing first, then the rest by time. Says so on a server without the route. */
  async function renderAlerts() {
    const box = sections.alerts;
    const body = await LE.optional(`/v1/alerts?model=${enc(model)}`);
    if (body === null) {
      replace(box, h("p", { class: "muted", text: "Alerts: not yet available on this server (its API has no /v1/alerts)." }));
      return;
    }
    const alerts = (Array.isArray(body) ? body : (body && body.alerts) || []).filter((a) => a.model === model);
    alerts.sort((a, b) => (a.state === "firing" ? 0 : 1) - (b.state === "firing" ? 0 : 1) || String(b.changed_at).localeCompare(String(a.changed_at)));
    const more = h("p", { class: "small" }, h("a", { href: LE.link("/alerts", ["refresh"], { model }), text: "Their evidence and the notifications sent →" }));
    replace(box, alerts.length
      ? h("ul", { class: "alert-list" }, alerts.map((a) => h("li", {},
        h("span", { class: `pill ${a.state === "firing" ? (a.severity === "critical" ? "fail" : "warn") : "pass"}`, text: `${a.state} · ${a.severity}` }), " ",
        h("strong", { text: a.rule }), a.version ? ` (${a.version})` : "", ": ", LE.alertLine(a),
        h("span", { class: "muted small", text: ` · since ${LE.time(a.starts_at)}${a.ends_at ? " until " + LE.time(a.ends_at) : ""}` }))))
      : h("p", { class: "muted", text: "No alerts for this model." }), more);
  }

  /* A read started now and awaited later: its failure is reported where it is awaited
     (never as an unhandled rejection if the render stops first). */
  function early(promise) { promise.catch(() => {}); return promise; }

  async function render(st) {
    const sec = LE.rangeSeconds(st);
    const version = st.version || "";
    const profile = st.profile || "";
    profileInput.value = profile;
    const q = (extra) => `${LE.span(sec)}${version ? "&version=" + enc(version) : ""}${profile ? "&profile=" + enc(profile) : ""}${extra || ""}`;
    const xMax = LE.now(), xMin = xMax - sec * 1000;
    // Every read starts as soon as what it needs is known, so the page waits for its
    // slowest chain (windows by version → drift; metrics → quality windows without a
    // metric in the URL), not for the sum of its reads.
    const side = [renderAlerts(), renderServer(sec)].map(early);
    const versionsAnswer = early(api(`${base}/versions?${LE.span(sec)}${profile ? "&profile=" + enc(profile) : ""}` +
      COMPARE.map((n) => "&metrics=" + enc(n)).join("")));
    const failures = early(failuresOf(sec, version));
    // Coverage, latency, failures and each window's confusion matrix, per version.
    const wq = `size=${LE.windowSize(sec)}&${LE.span(sec)}&by=version${version ? "&version=" + enc(version) : ""}` +
      ["latency_p50_seconds", "latency_p95_seconds", "latency_p99_seconds", "failed_prediction_rate"].map((n) => "&metrics=" + enc(n)).join("");
    const byVersion = early(api(`${base}/windows?${wq}`));
    // The quality chart's metric: the one in the URL, else the likely ones, checked
    // against the model's metrics once they are in (read again if not among them).
    const guessed = st.metric ? [st.metric] : QUALITY_GUESS;
    let quality = early(qualityWindows(sec, guessed, version));
    const body = await api(`${base}/metrics?${q()}`);
    const available = Object.keys(body.metrics || {}).filter((n) => !LE.isLatency(n) && n !== "failed_prediction_rate");
    const checks = ((body.verdict && body.verdict.checks) || []).map((c) => c.metric).filter((n) => available.includes(n));
    const chosen = st.metric && available.includes(st.metric) ? st.metric : checks[0] || (available.includes("f1") ? "f1" : available[0] || "accuracy");
    replace(metricSelect, (available.length ? available : [chosen]).map((n) => h("option", { value: n, text: LE.metricName(n) })));
    metricSelect.value = chosen;
    if (!guessed.includes(chosen)) quality = early(qualityWindows(sec, [chosen], version));
    renderHeadline(body);
    renderVerdict(body);
    const win = await byVersion;
    const windows = win.windows;
    const seen = [];
    for (const w of windows) if (w.version !== null && !seen.includes(w.version)) seen.push(w.version);
    const versionOptions = [""].concat(seen.includes(version) || !version ? seen : seen.concat([version]));
    replace(versionSelect, versionOptions.map((v) => h("option", { value: v, text: v || "all versions" })));
    versionSelect.value = version;
    const drift = early(renderDrift(seen, version, sec, firstData(windows), body.predictions));
    const coverageBox = h("div", { class: "chart-box" });
    replace(sections.coverage, coverageBox);
    chart(coverageBox, {
      title: "label coverage per window",
      series: series(windows, "label coverage", (w) => (w.label_coverage === null ? null : { v: w.label_coverage, text: LE.pct(w.label_coverage) })),
      xMin, xMax, yMin: 0, yMax: 1, yFmt: (v) => Math.round(v * 100) + "%",
      refs: [{ v: win.maturity, label: `realized at ${Math.round(win.maturity * 100)}%` }],
    });
    renderLatency(body, windows, xMin, xMax);
    renderConfusion(body, windows, st);
    const target = ((body.verdict && body.verdict.checks) || []).find((c) => c.metric === chosen);
    await Promise.all([
      renderQuality(quality, chosen, target, windows, xMin, xMax),
      renderFailed(body, windows, xMin, xMax, failures),
      renderVersions(versionsAnswer, seen),
      drift,
      ...side,
    ]);
    document.getElementById("threshold-link").href = LE.link(`/models/${enc(model)}/threshold`, ["range", "refresh", "version"]);
    document.getElementById("json-link").href = `${base}/metrics?${q()}`;
  }

  layout();
  LE.start(render, h("label", { for: "version" }, "Version ", versionSelect));
})();
