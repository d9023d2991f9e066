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
        section("quality", "Quality over time", "One point per window of predictions (by prediction time); the band is the interval. Hollow points and dashed lines: windows still waiting for labels (estimating); filled: realized.",
          h("label", { for: "metric", class: "inline" }, "Metric ", metricSelect)),
        section("coverage", "Label coverage over time", "Share of each window's predictions whose ground truth has arrived."),
        section("latency", "Latency", null),
        section("failed", "Failed predictions", null),
        section("confusion", "Confusion matrix", null, h("label", { for: "cm-window", class: "inline" }, "Window ", cmSelect)),
        section("versions", "Versions side by side", "Each version over the chosen range."),
        section("drift", "Drift", null),
        section("alerts", "Alerts", null),
        section("server", "Server process", "From the server's Prometheus exposition (/metrics): the whole process, all models.")),
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
  function chart(container, o) {
    const width = container.clientWidth || 600;
    replace(container, LE.timeChart({ ...o, width }),
      LE.legend(o.series, "filled = realized, hollow/dashed = estimating (labels still arriving)"));
    LE.paintSwatches(container);
  }
  function metricPoint(w, name) {
    const m = w.metrics[name];
    if (!m || m.value === null) return null;
    return { v: m.value, lo: m.lower, hi: m.upper, text: `${LE.fmt(m.value, name)} [${LE.interval(m, name)}]` };
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
    const p95 = slo.find((c) => c.metric === "latency_p95_seconds");
    chart(chartBox, {
      title: "p95 latency per window",
      series: series(windows, "p95 latency", (w) => metricPoint(w, "latency_p95_seconds")),
      xMin, xMax, yMin: 0, yFmt: (v) => LE.fmt(v, "latency_p95_seconds"),
      refs: p95 ? [{ v: p95.target, label: `target ${LE.fmt(p95.target, p95.metric)}` }] : [],
      empty: "no windows with labelled predictions in this range yet",
    });
  }

  function renderFailed(body, windows, xMin, xMax) {
    const m = (body.metrics || {}).failed_prediction_rate;
    const chartBox = h("div", { class: "chart-box" });
    replace(sections.failed,
      h("p", {}, `${LE.count(body.failed_predictions)} of ${LE.count(body.predictions)} predictions failed: `, LE.metric(m, "failed_prediction_rate"),
        h("span", { class: "muted small", text: " (the model raised an error; logged with its error type, left out of the quality metrics)" })),
      chartBox);
    chart(chartBox, {
      title: "failed-prediction rate per window",
      series: series(windows, "failed-prediction rate", (w) => metricPoint(w, "failed_prediction_rate")),
      xMin, xMax, yMin: 0,
    });
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

  function renderVersions(bodies) {
    replace(sections.versions, bodies.length
      ? h("div", { class: "versions" }, bodies.map(([v, b], i) => h("div", { class: "version-card" },
        h("div", { class: "card-head" }, h("h3", {}, h("span", { class: "swatch", "data-color": LE.COLORS[i % LE.COLORS.length] }), v), LE.badge(b)),
        h("dl", { class: "facts" },
          h("div", {}, h("dt", { text: "predictions" }), h("dd", { text: `${LE.count(b.predictions)} · ${LE.pct(b.label_coverage)} labelled` })),
          COMPARE.filter((n) => b.metrics && b.metrics[n] && (b.labelled || LE.isLatency(n) || n === "failed_prediction_rate")).map((n) => h("div", {}, h("dt", { text: LE.metricName(n) }), h("dd", {}, LE.metric(b.metrics[n], n))))))))
      : h("p", { class: "muted", text: "No predictions in this range." }));
    LE.paintSwatches(sections.versions);
  }

  async function renderOptional(id, template, path, what) {
    const box = sections[id];
    if (!(await LE.offers(template))) {
      replace(box, h("p", { class: "muted", text: `${what}: not yet available on this server (its API has no ${template}).` }));
      return;
    }
    const body = await LE.optional(path);
    if (body === null) {
      replace(box, h("p", { class: "muted", text: `${what}: not yet available for this model (the API answers 404 for ${path}).` }));
      return;
    }
    replace(box, h("p", {}, `${what} data is available as JSON: `, h("a", { href: path, text: path })));
  }

  /* Drift of the range's hourly windows against a reference: the first version when
     there are several, else the day before the range. The latest window's columns,
     ranked as the engine ranks them, with the rule that decided. */
  async function renderDrift(seen, version, sec) {
    const box = sections.drift;
    if (!(await LE.offers("/v1/models/{model}/drift"))) {
      replace(box, h("p", { class: "muted", text: "Drift: not yet available on this server." }));
      return;
    }
    const reference = seen.length > 1 ? `version:${seen[0]}` : "previous:1d";
    const since = new Date(Date.now() - sec * 1000).toISOString();
    const path = `${base}/drift?reference=${enc(reference)}&window=1h&since=${enc(since)}${version ? "&version=" + enc(version) : ""}`;
    let body;
    try { body = await api(path); } catch (e) {
      replace(box, h("p", { class: "muted", text: `Drift: ${e.message}` }));
      return;
    }
    const cols = (body.latest && body.latest.columns) || [];
    if (!cols.length) {
      replace(box, h("p", { class: "muted", text: `Drift: nothing to compare yet (reference ${reference}; windows of 1h in this range).` }));
      return;
    }
    const drifted = cols.filter((c) => c.drifted).map((c) => c.name);
    const rows = cols.map((c) => h("tr", { class: c.drifted ? "drifted" : "" },
      h("td", { class: "l", text: c.name }),
      h("td", { class: "l", text: c.role }),
      h("td", { text: c.effect.value === null ? "—" : c.effect.value.toFixed(3) + (c.effect.lower === null ? "" : ` (${c.effect.lower.toFixed(3)}–${c.effect.upper.toFixed(3)})`) }),
      h("td", { text: c.effect.threshold.toFixed(2) }),
      h("td", { text: c.p_adjusted === null ? "—" : c.p_adjusted < 1e-4 ? "<0.0001" : c.p_adjusted.toFixed(4) }),
      h("td", { class: "l", text: c.status.replace("_", " ") })));
    replace(box,
      h("p", {}, drifted.length ? h("strong", { text: `Drifted in the latest window: ${drifted.join(", ")}. ` }) : "No drift in the latest window. ",
        h("span", { class: "muted", text: `Reference ${body.reference.given}; window from ${body.latest.start.replace("T", " ").slice(0, 16)} UTC.` })),
      h("div", { class: "scroll" }, h("table", { class: "drift" },
        h("tr", {}, ["column", "role", "effect (interval)", "threshold", "p adjusted", "call"].map((t, i) => h("th", { class: i < 2 || i === 5 ? "l" : "", text: t }))),
        rows)),
      h("p", { class: "muted small", text: body.rule.description }),
      h("p", {}, h("a", { href: path, text: "drift JSON" })));
  }

  async function renderServer() {
    let textBody;
    try { textBody = await LE.text("/metrics"); } catch (e) { replace(sections.server, h("p", { class: "muted", text: `/metrics: ${e.message}` })); return; }
    const read = (name) => {
      const m = new RegExp("^" + name + " ([0-9.eE+-]+)$", "m").exec(textBody);
      return m ? Number(m[1]) : null;
    };
    const rss = read("process_resident_memory_bytes");
    const cpu = read("process_cpu_seconds_total");
    const started = read("process_start_time_seconds");
    replace(sections.server, h("dl", { class: "facts" },
      h("div", {}, h("dt", { text: "memory (RSS)" }), h("dd", { text: rss === null ? "—" : (rss / 1048576).toFixed(0) + " MiB" })),
      h("div", {}, h("dt", { text: "CPU time used" }), h("dd", { text: cpu === null ? "—" : cpu.toFixed(1) + " s" })),
      h("div", {}, h("dt", { text: "process started" }), h("dd", { text: started === null ? "—" : new Date(started * 1000).toLocaleString("en-GB") }))));
  }

  async function render(st) {
    const sec = LE.rangeSeconds(st);
    const range = enc(st.range);
    const version = st.version || "";
    const profile = st.profile || "";
    profileInput.value = profile;
    const q = (extra) => `window=${range}${version ? "&version=" + enc(version) : ""}${profile ? "&profile=" + enc(profile) : ""}${extra || ""}`;
    const body = await api(`${base}/metrics?${q()}`);
    const available = Object.keys(body.metrics || {}).filter((n) => !LE.isLatency(n) && n !== "failed_prediction_rate");
    const checks = ((body.verdict && body.verdict.checks) || []).map((c) => c.metric).filter((n) => available.includes(n));
    const chosen = st.metric && available.includes(st.metric) ? st.metric : checks[0] || (available.includes("f1") ? "f1" : available[0] || "accuracy");
    replace(metricSelect, (available.length ? available : [chosen]).map((n) => h("option", { value: n, text: LE.metricName(n) })));
    metricSelect.value = chosen;
    const since = LE.sinceIso(sec);
    const wq = `size=${LE.windowSize(sec)}&since=${enc(since)}&by=version${version ? "&version=" + enc(version) : ""}` +
      [chosen, "latency_p95_seconds", "failed_prediction_rate"].map((n) => "&metrics=" + enc(n)).join("");
    const win = await api(`${base}/windows?${wq}`);
    const windows = win.windows;
    const seen = [];
    for (const w of windows) if (w.version !== null && !seen.includes(w.version)) seen.push(w.version);
    const versionOptions = [""].concat(seen.includes(version) || !version ? seen : seen.concat([version]));
    replace(versionSelect, versionOptions.map((v) => h("option", { value: v, text: v || "all versions" })));
    versionSelect.value = version;
    const xMax = Date.now(), xMin = xMax - sec * 1000;
    renderHeadline(body);
    renderVerdict(body);
    const target = ((body.verdict && body.verdict.checks) || []).find((c) => c.metric === chosen);
    const qualityBox = h("div", { class: "chart-box" });
    replace(sections.quality, qualityBox, h("p", { class: "small muted", text: `Windows of ${win.size}; ${win.maturity_rule}.` }));
    chart(qualityBox, {
      title: `${LE.metricName(chosen)} per window`,
      series: series(windows, LE.metricName(chosen), (w) => metricPoint(w, chosen)),
      xMin, xMax, yFmt: (v) => LE.fmt(v, chosen),
      refs: target ? [{ v: target.target, label: `target ${target.op} ${LE.fmt(target.target, chosen)}` }] : [],
      empty: "no labelled predictions in this range yet",
    });
    const coverageBox = h("div", { class: "chart-box" });
    replace(sections.coverage, coverageBox);
    chart(coverageBox, {
      title: "label coverage per window",
      series: series(windows, "label coverage", (w) => (w.label_coverage === null ? null : { v: w.label_coverage, text: LE.pct(w.label_coverage) })),
      xMin, xMax, yMin: 0, yMax: 1, yFmt: (v) => Math.round(v * 100) + "%",
      refs: [{ v: win.maturity, label: `realized at ${Math.round(win.maturity * 100)}%` }],
    });
    renderLatency(body, windows, xMin, xMax);
    renderFailed(body, windows, xMin, xMax);
    renderConfusion(body, windows, st);
    const versionBodies = await Promise.all(seen.map(async (v) => [v, await api(`${base}/metrics?window=${range}&version=${enc(v)}${profile ? "&profile=" + enc(profile) : ""}`)]));
    renderVersions(versionBodies);
    await Promise.all([
      renderDrift(seen, version, sec),
      renderOptional("alerts", "/v1/alerts", `/v1/alerts?model=${enc(model)}`, "Alerts"),
      renderServer(),
    ]);
    document.getElementById("threshold-link").href = LE.link(`/models/${enc(model)}/threshold`, ["range", "refresh", "version"]);
    document.getElementById("json-link").href = `${base}/metrics?${q()}`;
  }

  layout();
  LE.start(render, h("label", { for: "version" }, "Version ", versionSelect));
})();
