/* Overview: every model and version with its health badge, headline metrics and a
   sparkline of the key metric — all from one request (GET /v1/overview). */
"use strict";

(() => {
  const { h, api, replace } = LE;
  const enc = encodeURIComponent;

  function card(model, c, key, color, st, xMin, xMax) {
    const m = c.metrics || {};
    const title = c.version === null ? model : `${model} · ${c.version}`;
    const href = LE.link(`/models/${enc(model)}`, ["range", "refresh"], c.version ? { version: c.version } : {});
    const failed = m.failed_prediction_rate;
    const points = (c.sparkline || []).map((p) => ({
      t: (LE.ms(p.start) + LE.ms(p.end)) / 2, v: p.value, est: p.state !== "realized",
    }));
    return h("article", { class: "card", "aria-label": title, "data-model": model, "data-version": c.version === null ? "" : c.version },
      h("header", { class: "card-head" },
        h("h2", {}, h("a", { href, text: title })),
        LE.badge(c)),
      h("div", { class: "key" },
        h("div", {},
          h("div", { class: "key-name", text: LE.metricName(key) }),
          h("div", { class: "key-value" }, c.labelled ? LE.metric(m[key], key) : h("span", { class: "muted", text: "no labels yet" }))),
        LE.sparkline(points, color, `${LE.metricName(key)} per window over the range, ${title}`, xMin, xMax)),
      h("dl", { class: "facts" },
        h("div", {}, h("dt", { text: "predictions" }), h("dd", { class: "predictions", text: LE.count(c.predictions) })),
        h("div", {}, h("dt", { text: "label coverage" }), h("dd", { class: "coverage", text: LE.pct(c.label_coverage) })),
        h("div", {}, h("dt", { text: "p95 latency" }), h("dd", {}, LE.metric(m.latency_p95_seconds, "latency_p95_seconds"))),
        h("div", {}, h("dt", { text: "failed" }), h("dd", {},
          failed ? h("span", { title: `${LE.count(c.failed_predictions)} failed predictions; interval ${LE.interval(failed)}`, text: `${LE.pct(failed.value)} (${LE.count(c.failed_predictions)})` }) : "—"))),
      // Firing alerts of this model and version: filled by renderFiringAlerts.
      h("div", { class: "alerts-slot", "data-slot": "firing-alerts" }),
      c.verdict ? h("p", { class: "summary small", text: c.verdict.summary }) : null);
  }

  /* Firing alerts (GET /v1/alerts: AlertNotice.to_json() objects) into each card's slot.
     Nothing is shown on a server without the route (it answers 404). */
  async function renderFiringAlerts(main, firing) {
    const body = await firing;
    const alerts = (Array.isArray(body) ? body : (body && body.alerts) || []).filter((a) => a.state === "firing");
    for (const slot of main.querySelectorAll('[data-slot="firing-alerts"]')) {
      const cardEl = slot.closest(".card");
      const mine = alerts.filter((a) => a.model === cardEl.dataset.model && (!a.version || !cardEl.dataset.version || a.version === cardEl.dataset.version));
      replace(slot, mine.length ? h("ul", { class: "alert-list" }, mine.map((a) => h("li", {},
        h("span", { class: `pill ${a.severity === "critical" ? "fail" : "warn"}`, text: `firing · ${a.severity}` }), " ", h("strong", { text: a.rule }), ": ", LE.alertLine(a)))) : null);
    }
  }

  async function render(st) {
    const main = document.getElementById("main");
    const sec = LE.rangeSeconds(st);
    // Both reads at once: the page waits for the slower, not for their sum.
    const firing = LE.optional("/v1/alerts?state=firing");
    firing.catch(() => {});
    const body = await api(`/v1/overview?window=${enc(st.range)}&size=${LE.windowSize(sec, 30)}`);
    const xMax = LE.now(), xMin = xMax - sec * 1000;
    const cards = [];
    for (const m of body.models) {
      m.versions.forEach((c, i) => cards.push(card(m.model, c, m.key_metric, LE.COLORS[i % LE.COLORS.length], st, xMin, xMax)));
    }
    const n = body.models.length;
    replace(main,
      h("h1", { text: "Models" }),
      h("p", { class: "muted", text: n
        ? `${n} model${n === 1 ? "" : "s"}, ${cards.length} card${cards.length === 1 ? "" : "s"} (one per version with predictions in the range). Badges come from each model's use-case verdict; filled points are realized windows, hollow ones are still waiting for labels.`
        : "" }),
      n ? h("div", { class: "cards" }, cards)
        : h("div", { class: "empty-state" },
          h("p", { text: "No models yet." }),
          h("p", {}, "Serve one with ", h("code", { text: "liveeval serve --model fraud=model.joblib" }),
            ", or log predictions from another server to ", h("code", { text: "POST /v1/predictions" }), ".")));
    await renderFiringAlerts(main, firing);
  }

  LE.start(render);
})();
