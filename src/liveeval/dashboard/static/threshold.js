/* Threshold explorer: move the threshold along the engine's curve and read precision,
   recall, F1, expected cost and the confusion matrix there; the recommended operating
   points are marked, with their intervals. */
"use strict";

(() => {
  const { h, s, api, replace } = LE;
  const enc = encodeURIComponent;
  const model = LE.modelFromPath();
  const base = `/v1/models/${enc(model)}`;
  const CURVES = [["precision", LE.COLORS[0]], ["recall", LE.COLORS[1]], ["f1", LE.COLORS[2]]];
  let data = null;

  const slider = h("input", { id: "threshold", type: "range", min: 0, max: 0, step: 1, value: 0,
    "aria-describedby": "at-threshold", oninput: () => { showPoint(); }, onchange: () => { LE.setState({ t: currentThreshold() }); } });
  const inputs = {};
  function numberInput(id, label, hint) {
    const el = h("input", { id, type: "number", min: 0, step: "any", inputmode: "decimal", placeholder: hint,
      onchange: (e) => { LE.setState({ [id]: e.target.value }); LE.refreshNow(); } });
    inputs[id] = el;
    return h("label", { for: id, class: "inline" }, label + " ", el);
  }

  function layout() {
    replace(document.getElementById("main"),
      h("div", { class: "title-row" },
        h("h1", {}, h("span", { class: "muted", text: "threshold · " }), h("a", { href: LE.link(`/models/${enc(model)}`, ["range", "refresh", "version"]), text: model }))),
      h("section", { class: "panel", "aria-labelledby": "explore-h" },
        h("div", { class: "panel-head" }, h("h2", { id: "explore-h", text: "Move the threshold" })),
        h("p", { class: "muted small", text: "A prediction is positive when its score is at or above the threshold. The curve is the engine's, over the labelled predictions in the range." }),
        h("div", { class: "slider-row" }, h("label", { for: "threshold", text: "Threshold" }), slider, h("output", { id: "t-value", for: "threshold" })),
        h("div", { id: "at-threshold", class: "at" }),
        h("div", { id: "curve-box", class: "chart-box" })),
      h("section", { class: "panel", "aria-labelledby": "targets-h" },
        h("div", { class: "panel-head" }, h("h2", { id: "targets-h", text: "Recommended operating points" })),
        h("div", { class: "target-inputs" },
          numberInput("min_recall", "min recall", "profile"), numberInput("min_precision", "min precision", "profile"),
          numberInput("cost_fp", "cost of a false positive", "1"), numberInput("cost_fn", "cost of a false negative", "1")),
        h("div", { id: "points" })));
  }

  function currentIndex() { return Number(slider.value); }
  function currentThreshold() { return data && data.curve ? data.curve.threshold[currentIndex()] : null; }

  function showPoint() {
    if (!data || !data.curve) return;
    const c = data.curve;
    const i = currentIndex();
    document.getElementById("t-value").textContent = LE.fmt(c.threshold[i]);
    slider.setAttribute("aria-valuetext", `threshold ${LE.fmt(c.threshold[i])}`);
    const neg = String(data.labels[0]), pos = String(data.labels[1]);
    const cm = { labels: [neg, pos], matrix: [[c.tn[i], c.fp[i]], [c.fn[i], c.tp[i]]] };
    const fact = (label, v) => h("div", {}, h("dt", { text: label }), h("dd", { text: v }));
    replace(document.getElementById("at-threshold"),
      h("dl", { class: "facts" },
        fact("precision", LE.fmt(c.precision[i])), fact("recall", LE.fmt(c.recall[i])), fact("F1", LE.fmt(c.f1[i])),
        fact("false-positive rate", LE.fmt(c.false_positive_rate[i])),
        c.expected_cost ? fact("expected cost per prediction", LE.fmt(c.expected_cost[i])) : null),
      LE.confusion(cm, `At threshold ${LE.fmt(c.threshold[i])}`));
    const marker = document.getElementById("t-marker");
    if (marker) { marker.setAttribute("x1", marker.dataset.sx.split(",")[i]); marker.setAttribute("x2", marker.dataset.sx.split(",")[i]); }
  }

  /* An operating point's name as a reader writes it: "recall ≥ 0.9", "min cost (fp=1, fn=1)". */
  function objective(text) {
    return String(text).replace(/^max_f1$/, "max F1").replace(/>=/g, " ≥ ").replace(/<=/g, " ≤ ")
      .replace(/^min_cost\((.*)\)$/, (_, a) => `min cost (${a.replace(/,/g, ", ")})`).replace(/_/g, " ");
  }

  function curveChart(c, points) {
    const box = document.getElementById("curve-box");
    const W = Math.max(260, box.clientWidth || 600), L = 40, R = 10, B = 26;
    const pw = W - L - R;
    const sx = (t) => L + t * pw;
    // The recommended points as numbered markers above the plot (the key under the
    // chart names them): labels never sit on the curves, and points close together
    // (they often are) take rows of their own instead of overlapping.
    const rowEnds = [];
    const marks = points.map((p, i) => ({ p, n: i + 1 })).filter(({ p }) => p.threshold !== null)
      .sort((a, b) => a.p.threshold - b.p.threshold)
      .map((m) => {
        const x = sx(m.p.threshold);
        let row = rowEnds.findIndex((end) => x - end >= 17);
        if (row < 0) { row = rowEnds.length; rowEnds.push(x); } else rowEnds[row] = x;
        return { ...m, x, row };
      });
    const T = 8 + rowEnds.length * 17, ph = 180, H = T + ph + B;
    const sy = (v) => T + ph - v * ph;
    const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "chart", role: "img", "aria-label": "precision, recall and F1 against the threshold" });
    svg.append(s("rect", { x: L, y: T, width: pw, height: ph, class: "plot" }));
    for (let k = 0; k <= 4; k++) {
      svg.append(s("line", { x1: L, x2: L + pw, y1: sy(k / 4), y2: sy(k / 4), class: "grid" }));
      svg.append(s("text", { x: L - 5, y: sy(k / 4) + 4, "text-anchor": "end", class: "tick", text: (k / 4).toFixed(2) }));
      svg.append(s("text", { x: sx(k / 4), y: H - 8, "text-anchor": k === 0 ? "start" : k === 4 ? "end" : "middle", class: "tick", text: (k / 4).toFixed(2) }));
    }
    for (const [name, color] of CURVES) {
      const pts = c.threshold.map((t, i) => [t, c[name][i]]).filter(([, v]) => v !== null);
      svg.append(s("polyline", { points: pts.map(([t, v]) => `${sx(t).toFixed(1)},${sy(v).toFixed(1)}`).join(" "), stroke: color, class: "line", fill: "none" }));
    }
    for (const m of marks) {
      const y = 9 + m.row * 17;
      const g = s("g", { class: "op", "data-objective": m.p.objective });
      g.append(s("title", { text: `${m.n}: ${objective(m.p.objective)} at ${LE.fmt(m.p.threshold)}` }));
      g.append(s("line", { x1: m.x, x2: m.x, y1: y + 7, y2: T + ph, class: "op-line" }));
      g.append(s("circle", { cx: m.x, cy: y, r: 7.5, class: "op-mark" }));
      g.append(s("text", { x: m.x, y: y + 3.5, "text-anchor": "middle", class: "op-num", text: String(m.n) }));
      svg.append(g);
    }
    const xs = c.threshold.map((t) => sx(t).toFixed(1));
    svg.append(s("line", { id: "t-marker", "data-sx": xs.join(","), x1: xs[currentIndex()], x2: xs[currentIndex()], y1: T, y2: T + ph, class: "marker" }));
    replace(box, svg,
      LE.legend(CURVES.map(([name, color]) => ({ name: LE.metricName(name), color })), "thick line: the slider"),
      marks.length ? h("ol", { class: "op-key small" }, points.map((p) => h("li", { text: p.threshold === null
        ? `${objective(p.objective)}: not reachable` : `${objective(p.objective)} at ${LE.fmt(p.threshold)}` }))) : null);
    LE.paintSwatches(box);
  }

  function renderPoints(points) {
    const box = document.getElementById("points");
    if (!points.length) { replace(box, h("p", { class: "muted", text: "No operating points: no labelled predictions with a score in this range." })); return; }
    replace(box,
      h("div", { class: "versions" }, points.map((p, i) => h("div", { class: "version-card" },
        h("div", { class: "card-head" }, h("h3", { text: `${i + 1} · ${objective(p.objective)}` }),
          p.threshold === null ? null : h("button", { type: "button", text: `go to ${LE.fmt(p.threshold)}`, onclick: () => { goTo(p.threshold); } })),
        p.threshold === null ? h("p", { class: "muted", text: p.reason || "not reachable" })
          : h("dl", { class: "facts" },
            h("div", {}, h("dt", { text: "threshold" }), h("dd", { text: LE.fmt(p.threshold) })),
            Object.entries(p.metrics).map(([n, m]) => h("div", {}, h("dt", { text: LE.metricName(n) }), h("dd", {}, LE.metric(m, n)))),
            p.expected_cost_per_row !== null ? h("div", {}, h("dt", { text: "expected cost" }), h("dd", { text: LE.fmt(p.expected_cost_per_row) })) : null),
        p.out_of_sample ? h("details", {}, h("summary", { text: "cross-fitted (honest) metrics" }),
          h("dl", { class: "facts" }, Object.entries(p.out_of_sample).map(([n, m]) => h("div", {}, h("dt", { text: LE.metricName(n) }), h("dd", {}, LE.metric(m, n)))))) : null))),
      h("p", { class: "small muted", text: data.in_sample_note }));
  }

  function goTo(threshold) {
    const c = data.curve;
    let best = 0;
    c.threshold.forEach((t, i) => { if (Math.abs(t - threshold) < Math.abs(c.threshold[best] - threshold)) best = i; });
    slider.value = String(best);
    LE.setState({ t: c.threshold[best] });
    showPoint();
    slider.focus();
  }

  async function render(st) {
    const version = st.version || "";
    for (const k of Object.keys(inputs)) inputs[k].value = st[k] || "";
    const params = new URLSearchParams({ window: st.range });
    if (version) params.set("version", version);
    for (const k of ["min_recall", "min_precision", "cost_fp", "cost_fn"]) if (st[k]) params.set(k, st[k]);
    if (!st.cost_fp && !st.cost_fn) { params.set("cost_fp", "1"); params.set("cost_fn", "1"); }
    const fresh = await api(`${base}/threshold?${params}`);
    // Read the slider after the answer: it may have moved while the request was out.
    const keep = currentThreshold();
    data = fresh;
    if (!data.curve) {
      replace(document.getElementById("at-threshold"), h("p", { class: "muted", text: data.reason }));
      replace(document.getElementById("curve-box"));
      renderPoints([]);
      slider.disabled = true;
      return;
    }
    slider.disabled = false;
    // The engine's curve runs from high to low thresholds; the slider runs low to high.
    const order = data.curve.threshold.map((_, i) => i).reverse();
    for (const k of Object.keys(data.curve)) data.curve[k] = order.map((i) => data.curve[k][i]);
    slider.max = String(data.curve.threshold.length - 1);
    const wanted = keep !== null ? keep : st.t !== undefined ? Number(st.t) : data.current_threshold !== null ? data.current_threshold : 0.5;
    let best = 0;
    data.curve.threshold.forEach((t, i) => { if (Math.abs(t - wanted) < Math.abs(data.curve.threshold[best] - wanted)) best = i; });
    slider.value = String(best);
    curveChart(data.curve, data.operating_points);
    showPoint();
    renderPoints(data.operating_points);
  }

  layout();
  LE.start(render);
})();
