/* liveeval dashboard: shared helpers. No dependencies, no network but this server's
   JSON API. The page's state lives in the query string, so a URL can be shared. */
"use strict";

const LE = (() => {
  const TOKEN_KEY = "liveeval.readToken";
  const RANGES = [
    ["5m", "last 5 minutes"],
    ["15m", "last 15 minutes"],
    ["1h", "last hour"],
    ["6h", "last 6 hours"],
    ["24h", "last 24 hours"],
    ["7d", "last 7 days"],
    ["30d", "last 30 days"],
  ];
  const REFRESH = [
    ["0", "off"],
    ["5", "every 5 s"],
    ["10", "every 10 s"],
    ["30", "every 30 s"],
    ["60", "every minute"],
  ];
  // Window sizes the windows API accepts; the smallest giving at most 60 windows (30 for a
  // sparkline) is used: the server computes every window's metrics, so fewer is faster.
  const SIZES = [
    [10, "10s"], [30, "30s"], [60, "1m"], [300, "5m"], [900, "15m"], [1800, "30m"],
    [3600, "1h"], [10800, "3h"], [21600, "6h"], [43200, "12h"], [86400, "1d"],
  ];
  const UNIT = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
  // Okabe & Ito's palette: distinguishable with the common colour-vision deficiencies.
  const COLORS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000"];
  const DEFAULTS = { range: "1h", refresh: "30" };
  const NAMES = {
    roc_auc: "ROC AUC", f1: "F1", f2: "F2", mcc: "MCC", cohen_kappa: "Cohen's kappa",
    latency_p50_seconds: "p50 latency", latency_p95_seconds: "p95 latency",
    latency_p99_seconds: "p99 latency", latency_max_seconds: "max latency",
    latency_mean_seconds: "mean latency", failed_prediction_rate: "failed predictions",
    expected_calibration_error: "calibration error (ECE)", log_loss: "log loss",
  };

  // -- state in the query string ------------------------------------------------
  function state() {
    const s = { ...DEFAULTS };
    for (const [k, v] of new URLSearchParams(location.search)) s[k] = v;
    return s;
  }
  function setState(patch) {
    const p = new URLSearchParams(location.search);
    for (const [k, v] of Object.entries(patch)) {
      if (v === null || v === undefined || v === "") p.delete(k);
      else p.set(k, String(v));
    }
    const q = p.toString();
    history.replaceState(null, "", location.pathname + (q ? "?" + q : ""));
  }
  function link(path, keep = ["range", "refresh"], extra = {}) {
    const s = state();
    const p = new URLSearchParams();
    for (const k of keep) if (s[k] !== undefined && s[k] !== DEFAULTS[k]) p.set(k, s[k]);
    for (const [k, v] of Object.entries(extra)) if (v !== null && v !== undefined && v !== "") p.set(k, v);
    const q = p.toString();
    return path + (q ? "?" + q : "");
  }
  function seconds(text) {
    const m = /^([0-9]+)([smhdw])$/.exec(String(text || "").trim());
    return m ? Number(m[1]) * UNIT[m[2]] : null;
  }
  function rangeSeconds(s) { return seconds(s.range) || 3600; }
  function windowSize(rangeSec, points = 60) {
    for (const [sec, text] of SIZES) if (rangeSec / sec <= points) return text;
    return "1d";
  }
  // The server's clock (GET /healthz): ranges end at the server's "now", which the demo
  // runs faster than the wall clock. Read at the start of every render.
  let serverNow = null, clockText = "wall";
  // The first render takes the clock the page shell was served with (saves a round trip).
  let shellClock = document.body.dataset.now ? { now: document.body.dataset.now, clock: document.body.dataset.clock } : null;
  async function syncClock() {
    if (shellClock) {
      serverNow = ms(shellClock.now);
      clockText = shellClock.clock || "wall";
      shellClock = null;
      return;
    }
    try {
      const r = await fetch("/healthz", { cache: "no-store" });
      const body = await r.json();
      serverNow = body.now ? ms(body.now) : null;
      clockText = body.clock || "wall";
    } catch (e) { serverNow = null; }
  }
  function now() { return serverNow === null ? Date.now() : serverNow; }
  /** "wall", or how the server's clock is simulated ("simulated, 576× the wall clock"). */
  function clock() { return clockText; }
  function sinceIso(rangeSec) { return new Date(now() - rangeSec * 1000).toISOString(); }
  /** since=…&until=… of the range, ending at the server's clock read for this render:
      every read of one render covers the same span, however long the render takes. */
  function span(rangeSec) { return `since=${encodeURIComponent(sinceIso(rangeSec))}&until=${encodeURIComponent(new Date(now()).toISOString())}`; }

  // -- DOM ------------------------------------------------------------------------
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    append(el, children);
    return el;
  }
  const SVGNS = "http://www.w3.org/2000/svg";
  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVGNS, tag);
    setAttrs(el, attrs);
    append(el, children);
    return el;
  }
  function setAttrs(el, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") el.textContent = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "class") el.setAttribute("class", v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  function append(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
  }
  function replace(el, ...children) { el.replaceChildren(); append(el, children); return el; }

  // -- the API --------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, message, path) { super(message); this.status = status; this.path = path; }
  }
  function detailText(detail) {
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map((d) => (d.loc || []).join(".") + ": " + d.msg).join("; ");
    return JSON.stringify(detail);
  }
  async function request(path) {
    const headers = { accept: "application/json" };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.authorization = "Bearer " + token;
    const r = await fetch(path, { headers, cache: "no-store" });
    if (r.status === 401 || r.status === 403) {
      showAuth(r.status === 401 ? "This server needs a read token." : "The token was refused.");
      throw new ApiError(r.status, "not authorised", path);
    }
    return r;
  }
  async function api(path) {
    const r = await request(path);
    let body = null;
    try { body = await r.json(); } catch (_) { body = null; }
    if (!r.ok) throw new ApiError(r.status, body && body.detail ? detailText(body.detail) : r.statusText, path);
    return body;
  }
  /** The answer, or null when the route answers 404 (a feature this server does not have). */
  async function optional(path) {
    try { return await api(path); } catch (e) { if (e.status === 404) return null; throw e; }
  }

  // -- the read token -------------------------------------------------------------
  function showAuth(message) {
    const box = document.getElementById("auth");
    const input = h("input", { id: "token", type: "password", autocomplete: "off", "aria-describedby": "token-help" });
    input.value = sessionStorage.getItem(TOKEN_KEY) || "";
    const form = h("form", {
      class: "auth-form",
      onsubmit: (ev) => {
        ev.preventDefault();
        if (input.value) sessionStorage.setItem(TOKEN_KEY, input.value);
        else sessionStorage.removeItem(TOKEN_KEY);
        box.hidden = true;
        refreshNow();
      },
    },
    h("label", { for: "token", text: "Read token" }), input,
    h("button", { type: "submit", text: "Use token" }),
    h("button", { type: "button", text: "Forget", onclick: () => { sessionStorage.removeItem(TOKEN_KEY); input.value = ""; } }),
    h("p", { id: "token-help", class: "muted", text: (message ? message + " " : "") +
      "The token is kept in this tab only (sessionStorage) and sent as 'Authorization: Bearer …'." }));
    replace(box, form);
    box.hidden = false;
    input.focus();
  }

  // -- formatting -----------------------------------------------------------------
  // Formatters made once: toLocaleString builds one per call (~0.1 ms each), which
  // was most of a chart page's render (thousands of tooltip texts).
  const NUMBER = new Intl.NumberFormat("en");
  const MONTH = new Intl.DateTimeFormat("en", { month: "short" });
  function metricName(name) { return NAMES[name] || String(name).replace(/_/g, " "); }
  function isLatency(name) { return /_seconds$/.test(name); }
  function fmt(v, name) {
    if (v === null || v === undefined || Number.isNaN(v)) return "—";
    if (name && isLatency(name)) {
      const ms = v * 1000;
      // A no-break space: the unit never wraps away from its number.
      return (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2)) + "\u00a0ms";
    }
    if (Math.abs(v) >= 1000) return NUMBER.format(Math.round(v));
    return Number(v).toFixed(3);
  }
  function pct(v) { return v === null || v === undefined ? "—" : (100 * v).toFixed(1) + "%"; }
  function count(v) { return v === null || v === undefined ? "—" : NUMBER.format(Number(v)); }
  function interval(m, name) {
    if (!m || m.value === null || m.value === undefined) return "";
    const lo = m.lower === null ? (m.lower_unbounded ? "−∞" : "?") : fmt(m.lower, name);
    const hi = m.upper === null ? (m.upper_unbounded ? "∞" : "?") : fmt(m.upper, name);
    return `${lo} – ${hi}`;
  }
  /** A metric as a value element with its interval and method as a tooltip. */
  function metric(m, name) {
    if (!m) return h("span", { class: "muted", text: "—" });
    if (m.value === null || m.value === undefined)
      return h("span", { class: "muted", title: m.reason || "undefined", text: "undefined" });
    const tip = `${metricName(name)} ${fmt(m.value, name)}; ${Math.round((m.confidence || 0.95) * 100)}% interval ` +
      `${interval(m, name)} (${m.method}); n = ${count(m.n)}` + (m.note ? `; ${m.note}` : "");
    return h("span", { class: "metric", title: tip },
      h("span", { class: "value", text: fmt(m.value, name) }),
      h("span", { class: "ci", text: ` [${interval(m, name)}]` }));
  }
  function time(iso, span) {
    const d = new Date(iso.endsWith("Z") || /[+-]\d\d:\d\d$/.test(iso) ? iso : iso + "Z");
    const p = (n) => String(n).padStart(2, "0");
    const hm = `${p(d.getHours())}:${p(d.getMinutes())}`;
    if (span !== undefined && span <= 3600) return hm + ":" + p(d.getSeconds());
    if (span !== undefined && span <= 86400) return hm;
    return `${MONTH.format(d)} ${d.getDate()} ${hm}`;
  }
  function ms(iso) { return Date.parse(iso.endsWith("Z") || /[+-]\d\d:\d\d$/.test(iso) ? iso : iso + "Z"); }

  /** An alert in one short line from its evidence ("recall 0.034, reference 0.579,
      since Nov 28 12:00"), the engine's summary as its tooltip; the summary itself
      when the evidence has no before and after. */
  function alertLine(a) {
    const ev = a.evidence || {};
    if (!ev.before || !ev.after || ev.after.value === undefined) return h("span", { text: a.summary });
    const since = ev.after.since || a.starts_at;
    return h("span", { title: a.summary,
      text: `${metricName(a.metric)} ${fmt(ev.after.value, a.metric)}, reference ${fmt(ev.before.value, a.metric)}` + (since ? `, since ${time(since)}` : "") });
  }

  // Verdict status -> badge. Colour is never the only signal: each has a word and a mark.
  const BADGES = {
    pass: ["healthy", "✓", "good"],
    warn: ["warning", "!", "warn"],
    fail: ["failing", "✗", "bad"],
    inconclusive: ["not enough labels yet", "…", "wait"],
  };
  function badge(body) {
    const v = body && body.verdict;
    let key = v ? v.status : null;
    let word, mark, cls;
    if (key && BADGES[key]) [word, mark, cls] = BADGES[key];
    else if (body && !body.labelled) [word, mark, cls] = BADGES.inconclusive;
    else [word, mark, cls] = ["no profile", "·", "none"];
    return h("span", { class: `badge ${cls}`, title: v ? v.summary : "no use-case profile judges this model" },
      h("span", { "aria-hidden": "true", text: mark + " " }), word);
  }

  // -- small charts (inline SVG; time series: charts.js, with uPlot) -----------------
  /**
   * Horizontal grouped bars: one row per bin (its label on the left), one bar per
   * side. sides: [{name, color, values}] (shares, 0–1). Long labels wrap into the
   * left column's width, so the chart fits a phone.
   */
  function barsChart(o) {
    const W = Math.max(260, Math.floor(o.width || 400));
    const rows = o.bins.length, per = o.sides.length;
    const L = Math.min(150, Math.max(70, Math.floor(W * 0.32))), R = 44, T = 4, bar = 7, gap = 5;
    const H = T + rows * (per * bar + gap) + 4;
    const max = Math.max(1e-9, ...o.sides.flatMap((sd) => sd.values));
    const pw = W - L - R;
    const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": o.title, class: "chart bars" });
    svg.append(s("title", { text: o.title }));
    const chars = Math.floor((L - 6) / 6);
    o.bins.forEach((label, i) => {
      const y = T + i * (per * bar + gap);
      const text = String(label);
      svg.append(s("text", { x: L - 5, y: y + per * bar / 2 + 4, "text-anchor": "end", class: "tick", text: text.length > chars ? text.slice(0, chars - 1) + "…" : text },
        s("title", { text })));
      o.sides.forEach((sd, j) => {
        const v = sd.values[i] || 0;
        const r = s("rect", { x: L, y: y + j * bar, width: Math.max(0.5, (v / max) * pw), height: bar - 1, fill: sd.color, class: `bar side-${j}` });
        r.append(s("title", { text: `${sd.name}, ${text}: ${pct(v)}` }));
        svg.append(r);
      });
      const last = o.sides[per - 1].values[i] || 0;
      svg.append(s("text", { x: L + (last / max) * pw + 3, y: y + per * bar - 1, class: "tick", text: pct(last) }));
    });
    return svg;
  }
  function sparkline(points, color, label, xMin, xMax) {
    const W = 140, H = 36, P = 3;
    const vals = points.filter((p) => Number.isFinite(p.v));
    const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": label, class: "spark" });
    svg.append(s("title", { text: label }));
    if (!vals.length) {
      svg.append(s("text", { x: W / 2, y: H / 2 + 4, "text-anchor": "middle", class: "empty", text: "no labels yet" }));
      return svg;
    }
    // A shared time axis (xMin, xMax) keeps versions' sparklines comparable side by side.
    const t0 = xMin !== undefined ? xMin : Math.min(...points.map((p) => p.t));
    const t1 = xMax !== undefined ? xMax : Math.max(...points.map((p) => p.t));
    let y0 = Math.min(...vals.map((p) => p.v)), y1 = Math.max(...vals.map((p) => p.v));
    if (!(y1 > y0)) { y0 -= 0.05; y1 += 0.05; }
    const sx = (t) => P + ((t - t0) / ((t1 - t0) || 1)) * (W - 2 * P);
    const sy = (v) => H - P - ((v - y0) / (y1 - y0)) * (H - 2 * P);
    for (let i = 0; i + 1 < vals.length; i++) {
      const a = vals[i], b = vals[i + 1];
      svg.append(s("line", { x1: sx(a.t), y1: sy(a.v), x2: sx(b.t), y2: sy(b.v), stroke: color, class: a.est || b.est ? "line est" : "line" }));
    }
    for (const p of vals) svg.append(s("circle", { cx: sx(p.t), cy: sy(p.v), r: 2, stroke: color, fill: p.est ? "#fff" : color }));
    return svg;
  }
  function legend(series, extra) {
    return h("ul", { class: "legend" },
      series.map((se) => h("li", {}, h("span", {
        class: se.dash ? `swatch line ${Array.isArray(se.dash) && se.dash[0] < 4 ? "dotted" : "dashed"}` : "swatch",
        "data-color": se.color,
      }), se.name)),
      extra ? h("li", { class: "muted" }, extra) : null);
  }
  function paintSwatches(root) {
    for (const el of root.querySelectorAll(".swatch[data-color]")) {
      if (el.classList.contains("line")) el.style.borderColor = el.dataset.color;
      else el.style.background = el.dataset.color;
    }
  }

  /** A confusion matrix as a table: counts, and the share of each actual class (row). */
  function confusion(cm, caption) {
    if (!cm || !cm.matrix || !cm.matrix.length) return h("p", { class: "muted", text: "No labelled predictions in this window." });
    const labels = cm.labels.map(String);
    const table = h("table", { class: "cm" },
      h("caption", { text: caption || "Confusion matrix" }),
      h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "actual ↓ · predicted →" }), labels.map((l) => h("th", { scope: "col", text: l })))),
      h("tbody", {}, cm.matrix.map((row, i) => {
        const total = row.reduce((a, b) => a + b, 0);
        return h("tr", {}, h("th", { scope: "row", text: labels[i] }), row.map((c, j) => {
          const share = total > 0 ? c / total : null;
          const td = h("td", { class: i === j ? "diag" : "off", title: `actual ${labels[i]}, predicted ${labels[j]}: ${count(c)} of ${count(total)}` },
            h("span", { class: "n", text: count(Math.round(c)) }),
            h("span", { class: "share", text: share === null ? "" : pct(share) }));
          if (share !== null) td.style.setProperty("--share", share.toFixed(3));
          return td;
        }));
      })));
    return h("div", { class: "cm-wrap" }, table, h("p", { class: "muted small", text: "Percentages are the share of each actual class (the row): the diagonal is each class's recall." }));
  }

  // -- page lifecycle ---------------------------------------------------------------
  let renderFn = null;
  let timer = null;
  let running = false;
  function controls(extra, withRange = true) {
    const form = document.getElementById("controls");
    const st = state();
    const range = h("select", { id: "range", name: "range", onchange: (e) => { setState({ range: e.target.value }); refreshNow(); } },
      RANGES.map(([v, label]) => h("option", { value: v, text: label })));
    if (!RANGES.some(([v]) => v === st.range)) range.append(h("option", { value: st.range, text: "last " + st.range }));
    range.value = st.range;
    const refresh = h("select", { id: "refresh", name: "refresh", onchange: (e) => { setState({ refresh: e.target.value }); schedule(); } },
      REFRESH.map(([v, label]) => h("option", { value: v, text: label })));
    if (!REFRESH.some(([v]) => v === st.refresh)) refresh.append(h("option", { value: st.refresh, text: `every ${st.refresh} s` }));
    refresh.value = st.refresh;
    replace(form,
      withRange ? h("label", { for: "range" }, "Range ", range) : null,
      h("label", { for: "refresh" }, "Auto-refresh ", refresh),
      extra || null,
      h("button", { type: "button", id: "refresh-now", onclick: refreshNow, text: "Refresh" }),
      h("button", { type: "button", id: "token-button", onclick: () => showAuth(""), text: "Token" }),
      h("span", { id: "updated", class: "muted small", role: "status", "aria-live": "polite" }));
    form.addEventListener("submit", (e) => e.preventDefault());
  }
  function schedule() {
    if (timer) clearInterval(timer);
    const sec = Number(state().refresh) || 0;
    timer = sec > 0 ? setInterval(() => { if (!document.hidden) refreshNow(); }, sec * 1000) : null;
  }
  let again = false;
  async function refreshNow() {
    if (!renderFn) return;
    // A change made while a render is out (a control, a resize) renders again after it,
    // so the page always ends up showing the latest state.
    if (running) { again = true; return; }
    running = true;
    again = false;
    // Busy while any render is out, so a reader (or a test) knows the page is settled.
    document.body.setAttribute("aria-busy", "true");
    const out = document.getElementById("updated");
    try {
      await syncClock();
      await renderFn(state());
      if (out) {
        out.textContent = "updated " + new Date().toLocaleTimeString("en-GB") +
          (clockText !== "wall" ? ` · server clock ${time(new Date(now()).toISOString())} (${clockText})` : "");
        // When the page first showed its numbers (bench/dashboard.py reads it).
        if (!performance.getEntriesByName("liveeval:updated").length) performance.mark("liveeval:updated");
      }
      const err = document.getElementById("error");
      if (err) err.remove();
    } catch (e) {
      if (!(e instanceof ApiError && (e.status === 401 || e.status === 403))) {
        console.warn(e);
        showError(e);
      }
    } finally {
      running = false;
      if (!again) document.body.removeAttribute("aria-busy");
    }
    if (again) refreshNow();
  }
  function showError(e) {
    let box = document.getElementById("error");
    if (!box) {
      box = h("div", { id: "error", class: "error", role: "alert" });
      document.getElementById("main").prepend(box);
    }
    box.textContent = e instanceof ApiError ? `${e.path}: ${e.status} ${e.message}` : String(e.message || e);
  }
  /** Render now, on a timer and on resize; options.range = false: a page without a
      time range (the alerts). */
  function start(render, extraControls, options = {}) {
    renderFn = render;
    controls(extraControls, options.range !== false);
    schedule();
    refreshNow();
    let resize = null;
    window.addEventListener("resize", () => { clearTimeout(resize); resize = setTimeout(refreshNow, 250); });
  }
  function modelFromPath() {
    const m = /^\/models\/([^/]+)/.exec(location.pathname);
    return m ? decodeURIComponent(m[1]) : null;
  }

  return {
    COLORS, DEFAULTS, ApiError, state, setState, link, seconds, rangeSeconds, windowSize, sinceIso, span, now, clock, barsChart,
    h, s, replace, api, optional, showAuth, metricName, isLatency, fmt, pct, count, interval,
    metric, time, ms, alertLine, badge, sparkline, legend, paintSwatches, confusion, start,
    refreshNow, modelFromPath,
  };
})();
