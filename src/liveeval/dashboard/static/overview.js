/* Overview: every model and version with its health badge, headline metrics and a
   sparkline of the key metric. */
"use strict";

(() => {
  const { h, api, replace } = LE;
  const enc = encodeURIComponent;

  /** The metric the model's profile judges first (not a latency), else F1 or accuracy. */
  function keyMetric(body) {
    const checks = (body.verdict && body.verdict.checks) || [];
    const judged = checks.map((c) => c.metric).find((m) => !LE.isLatency(m) && m !== "failed_prediction_rate");
    if (judged) return judged;
    if (body.metrics && body.metrics.f1) return "f1";
    return "accuracy";
  }

  function card(model, version, body, points, key, color, st) {
    const m = body.metrics || {};
    const title = version === null ? model : `${model} · ${version}`;
    const href = LE.link(`/models/${enc(model)}`, ["range", "refresh"], version ? { version } : {});
    const failed = m.failed_prediction_rate;
    return h("article", { class: "card", "aria-label": title },
      h("header", { class: "card-head" },
        h("h2", {}, h("a", { href, text: title })),
        LE.badge(body)),
      h("div", { class: "key" },
        h("div", {},
          h("div", { class: "key-name", text: LE.metricName(key) }),
          h("div", { class: "key-value" }, body.labelled ? LE.metric(m[key], key) : h("span", { class: "muted", text: "no labels yet" }))),
        LE.sparkline(points, color, `${LE.metricName(key)} per window over the range, ${title}`, Date.now() - LE.rangeSeconds(st) * 1000, Date.now())),
      h("dl", { class: "facts" },
        h("div", {}, h("dt", { text: "predictions" }), h("dd", { text: LE.count(body.predictions) })),
        h("div", {}, h("dt", { text: "label coverage" }), h("dd", { text: LE.pct(body.label_coverage) })),
        h("div", {}, h("dt", { text: "p95 latency" }), h("dd", {}, LE.metric(m.latency_p95_seconds, "latency_p95_seconds"))),
        h("div", {}, h("dt", { text: "failed" }), h("dd", {},
          failed ? h("span", { title: `${LE.count(body.failed_predictions)} failed predictions; interval ${LE.interval(failed)}`, text: `${LE.pct(failed.value)} (${LE.count(body.failed_predictions)})` }) : "—"))),
      body.verdict ? h("p", { class: "summary small", text: body.verdict.summary }) : null);
  }

  async function modelCards(model, st) {
    const range = st.range;
    const sec = LE.rangeSeconds(st);
    const overall = await api(`/v1/models/${enc(model)}/metrics?window=${enc(range)}`);
    const key = keyMetric(overall);
    const windows = await api(`/v1/models/${enc(model)}/windows?size=${LE.windowSize(sec, 30)}&since=${enc(LE.sinceIso(sec))}&by=version&metrics=${enc(key)}`);
    const versions = [];
    for (const w of windows.windows) if (w.version !== null && !versions.includes(w.version)) versions.push(w.version);
    if (!versions.length) {
      return [card(model, null, overall, [], key, LE.COLORS[0], st)];
    }
    const bodies = await Promise.all(versions.map((v) => api(`/v1/models/${enc(model)}/metrics?window=${enc(range)}&version=${enc(v)}`)));
    return versions.map((v, i) => {
      const points = windows.windows.filter((w) => w.version === v).map((w) => {
        const mm = w.metrics[key];
        return { t: (LE.ms(w.start) + LE.ms(w.end)) / 2, v: mm ? mm.value : null, est: w.state !== "realized" };
      });
      return card(model, v, bodies[i], points, key, LE.COLORS[i % LE.COLORS.length], st);
    });
  }

  async function render(st) {
    const main = document.getElementById("main");
    const listing = await api("/v1/models");
    const names = listing.known || [];
    const groups = await Promise.all(names.map((n) => modelCards(n, st)));
    const cards = groups.flat();
    replace(main,
      h("h1", { text: "Models" }),
      h("p", { class: "muted", text: names.length
        ? `${names.length} model${names.length === 1 ? "" : "s"}, ${cards.length} card${cards.length === 1 ? "" : "s"} (one per version with predictions in the range). Badges come from each model's use-case verdict; filled points are realized windows, hollow ones are still waiting for labels.`
        : "" }),
      names.length ? h("div", { class: "cards" }, cards)
        : h("div", { class: "empty-state" },
          h("p", { text: "No models yet." }),
          h("p", {}, "Serve one with ", h("code", { text: "liveeval serve --model fraud=model.joblib" }),
            ", or log predictions from another server to ", h("code", { text: "POST /v1/predictions" }), ".")));
  }

  LE.start(render);
})();
