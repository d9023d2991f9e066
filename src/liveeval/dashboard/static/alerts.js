/* Alerts: the current (firing, pending) and past (resolved) alerts with their evidence
   and state changes, and the notifications sent for them — GET /v1/alerts,
   /v1/alerts/{id} and /v1/notifications, nothing computed here. */
"use strict";

(() => {
  const { h, api, replace } = LE;
  const enc = encodeURIComponent;
  const STATES = [["", "all states"], ["firing", "firing"], ["pending", "pending"], ["resolved", "resolved"]];
  const ORDER = { firing: 0, pending: 1, resolved: 2 };

  const stateSelect = h("select", { id: "alert-state", onchange: (e) => { LE.setState({ state: e.target.value }); LE.refreshNow(); } },
    STATES.map(([v, t]) => h("option", { value: v, text: t })));
  const modelSelect = h("select", { id: "alert-model", onchange: (e) => { LE.setState({ model: e.target.value }); LE.refreshNow(); } });

  /* A value with fixed digits: JSON does not tell 0.0 from 0, and a recall of 0 is
     "0.000" beside its interval like any other. */
  function num(v, digits = 3) {
    if (v === null || v === undefined) return "—";
    if (typeof v !== "number") return String(v);
    return Math.abs(v) >= 1000 ? LE.count(Math.round(v)) : v.toFixed(digits);
  }
  function when(iso) { return iso ? LE.time(iso) : "—"; }
  function pill(a) {
    const cls = a.state === "firing" ? (a.severity === "critical" ? "fail" : "warn") : a.state === "pending" ? "inconclusive" : "pass";
    return h("span", { class: `pill ${cls}`, text: `${a.state} · ${a.severity}` });
  }
  function estimate(side, metric) {
    if (!side || side.value === undefined) return null;
    const ci = side.lower !== undefined && side.lower !== null
      ? ` [${num(side.lower)} – ${num(side.upper)}]${side.confidence ? ` (${Math.round(side.confidence * 100)}%)` : ""}` : "";
    return `${LE.metricName(metric)} ${num(side.value)}${ci}` + (side.n !== undefined ? `, n = ${LE.count(side.n)}` : "");
  }

  /* The evidence the rule kept: the reference and the recent value with their
     intervals, the statistic against its threshold, how many looks and samples; every
     field, as the API has it, under "All evidence". */
  function evidence(a) {
    const ev = a.evidence || {};
    const rows = [];
    const row = (label, value, cls) => rows.push(h("div", { class: cls || null }, h("dt", { text: label }), h("dd", { text: value })));
    if (ev.before) {
      const period = ev.before.start ? ` · ${when(ev.before.start)} – ${when(ev.before.end)}` : "";
      row("reference", estimate(ev.before, a.metric) + period, "ev-before");
    }
    if (ev.after) {
      const since = ev.after.since ? ` · since ${when(ev.after.since)}` : "";
      row("recent", estimate(ev.after, a.metric) + since, "ev-after");
    }
    if (ev.value !== undefined && !ev.after) row("value", estimate(ev, a.metric) || num(ev.value), "ev-value");
    if (ev.statistic !== undefined) {
      row("statistic", `${num(ev.statistic, 2)} against the threshold ${num(ev.threshold, 2)}` + (ev.alarmed ? " (alarm)" : ""), "ev-statistic");
    }
    if (ev.baseline !== undefined) row("baseline", num(ev.baseline), "ev-baseline");
    if (ev.looks !== undefined || ev.samples !== undefined) row("looks, samples", `${LE.count(ev.looks)} looks, ${LE.count(ev.samples)} samples`, "ev-looks");
    if (ev.first_alarm && ev.first_alarm.at) row("first alarm", `${when(ev.first_alarm.at)} (${LE.count(ev.first_alarm.looks_since_change)} looks, ${LE.count(ev.first_alarm.samples_since_change)} samples after the change)`);
    if (ev.method) row("method", ev.method);
    if (ev.false_alarm_budget) row("false alarms", ev.false_alarm_budget);
    return h("div", { class: "evidence" },
      rows.length ? h("dl", { class: "ev" }, rows) : null,
      h("details", {}, h("summary", { text: "All evidence (JSON)" }),
        h("pre", { class: "json", text: JSON.stringify(ev, null, 2) })));
  }

  function alertCard(a, history) {
    const scope = [a.model, a.version, a.segment].filter((x) => x !== null && x !== undefined && x !== "").join(" · ");
    const changes = (history && history.history) || [];
    return h("article", { class: `alert-card ${a.state}`, "data-alert-id": a.alert_id, "aria-label": `${a.rule}: ${a.state}` },
      h("div", { class: "card-head" },
        h("h3", {}, h("code", { text: a.rule })),
        pill(a)),
      h("p", { class: "small" }, h("a", { href: LE.link(`/models/${enc(a.model)}`, ["refresh"], a.metric ? { metric: a.metric } : {}), text: scope }),
        ` · ${LE.metricName(a.metric)} · since ${when(a.starts_at)}` + (a.ends_at ? ` until ${when(a.ends_at)}` : "") + ` · last change ${when(a.changed_at)}`),
      h("p", { class: "summary", text: a.summary }),
      evidence(a),
      changes.length ? h("details", { class: "history" },
        h("summary", { text: `State changes (${changes.length})` }),
        h("ol", {}, changes.map((c) => h("li", { text: `${when(c.changed_at)}: ${c.state}` + (c.summary && c.summary !== a.summary ? ` — ${c.summary}` : "") })))) : null,
      h("p", { class: "small muted" },
        (a.channels || []).length ? `channels: ${a.channels.join(", ")}` : "no channels",
        (a.actions || []).length ? ` · actions: ${a.actions.join(", ")}` : "",
        " · ", h("a", { href: `/v1/alerts/${enc(a.alert_id)}`, text: "JSON" })));
  }

  function notificationsTable(body, rules) {
    const list = body.notifications || [];
    const backlog = Object.entries(body.backlog || {});
    return h("div", {},
      h("p", { class: "small", id: "backlog" }, backlog.length
        ? backlog.map(([name, b]) => `${name}: ${LE.count(b.pending)} pending` + (b.pending ? ` (oldest ${Math.round(b.oldest_age_seconds)} s)` : "")).join(" · ")
        : "No channel has anything waiting."),
      list.length
        ? h("div", { class: "scroll" }, h("table", { class: "notifications" },
          h("thead", {}, h("tr", {}, ["created", "channel", "alert", "state", "delivery", "attempts"].map((t, i) => h("th", { class: i === 5 ? "wide" : null, text: t })))),
          h("tbody", {}, list.map((n) => h("tr", { "data-key": n.key },
            h("td", { text: when(n.created_at) }),
            h("td", {}, h("code", { text: n.channel })),
            h("td", { class: "l", text: rules.get(n.alert_id) || n.alert_id }),
            h("td", { text: n.state }),
            h("td", { title: n.last_error || "", text: n.status === "delivered" ? `delivered ${when(n.delivered_at)}` : `${n.status}${n.last_error ? ": " + n.last_error : ""}` }),
            h("td", { class: "wide", text: LE.count(n.attempts) }))))))
        : h("p", { class: "muted", text: "No notifications sent yet." }));
  }

  async function render(st) {
    const main = document.getElementById("main");
    const state = st.state || "";
    const model = st.model || "";
    // A server without a route answers 404: null here.
    const [all, notes] = await Promise.all([
      LE.optional(`/v1/alerts${model ? "?model=" + enc(model) : ""}`),
      LE.optional(`/v1/notifications?limit=100${model ? "&model=" + enc(model) : ""}`),
    ]);
    if (!all) {
      replace(main, h("h1", { text: "Alerts" }), h("p", { class: "muted", text: "This server has no alerts API (/v1/alerts)." }));
      return;
    }
    const alerts = all.alerts || [];
    const models = [...new Set(alerts.map((a) => a.model).concat(model ? [model] : []))].sort();
    replace(modelSelect, [h("option", { value: "", text: "all models" })].concat(models.map((m) => h("option", { value: m, text: m }))));
    modelSelect.value = model;
    stateSelect.value = state;
    const shown = alerts.filter((a) => !state || a.state === state)
      .sort((a, b) => ORDER[a.state] - ORDER[b.state] || String(b.changed_at).localeCompare(String(a.changed_at)));
    // Each shown alert's state changes (at most 30 alerts asked for).
    const histories = new Map(await Promise.all(shown.slice(0, 30).map(async (a) => [a.alert_id, await LE.optional(`/v1/alerts/${enc(a.alert_id)}`)])));
    const count = (s) => alerts.filter((a) => a.state === s).length;
    const current = shown.filter((a) => a.state !== "resolved");
    const past = shown.filter((a) => a.state === "resolved");
    const rules = new Map(alerts.map((a) => [a.alert_id, a.rule]));
    replace(main,
      h("h1", { text: "Alerts" }),
      h("p", { id: "alert-counts", class: "counts" },
        h("span", { class: "count firing", "data-state": "firing" }, h("strong", { text: String(count("firing")) }), " firing"), " · ",
        h("span", { class: "count pending", "data-state": "pending" }, h("strong", { text: String(count("pending")) }), " pending"), " · ",
        h("span", { class: "count resolved", "data-state": "resolved" }, h("strong", { text: String(count("resolved")) }), " resolved"),
        h("span", { class: "muted small", text: all.evaluated_at ? ` · rules last evaluated ${when(all.evaluated_at)} (server clock)` : " · the rules have not been evaluated yet" })),
      h("section", { class: "panel", id: "current", "aria-labelledby": "current-h" },
        h("h2", { id: "current-h", text: "Current: firing and pending" }),
        current.length ? h("div", { class: "alert-cards" }, current.map((a) => alertCard(a, histories.get(a.alert_id))))
          : h("p", { class: "muted", text: state && state !== "firing" && state !== "pending" ? "Not shown with this filter." : "Nothing is firing or pending." })),
      h("section", { class: "panel", id: "past", "aria-labelledby": "past-h" },
        h("h2", { id: "past-h", text: "Past: resolved" }),
        past.length ? h("div", { class: "alert-cards" }, past.map((a) => alertCard(a, histories.get(a.alert_id))))
          : h("p", { class: "muted", text: "No resolved alerts." })),
      h("section", { class: "panel", id: "notifications", "aria-labelledby": "notifications-h" },
        h("h2", { id: "notifications-h", text: "Notifications sent" }),
        h("p", { class: "muted small", text: "The outbox, newest first (the last 100): each state change of an alert, per channel, and whether it was delivered." +
          (LE.clock() !== "wall" ? " Its times are the wall clock (notifications go out in real time); the alerts' above are the server's simulated clock." : "") }),
        notes ? notificationsTable(notes, rules) : h("p", { class: "muted", text: "This server has no notifications API." })),
      h("p", { class: "links" }, h("a", { href: "/v1/alerts", text: "alerts JSON" }), " · ", h("a", { href: "/v1/alert-rules", text: "rules JSON" }), " · ", h("a", { href: "/v1/notifications", text: "notifications JSON" })));
  }

  LE.start(render, [h("label", { for: "alert-state" }, "State ", stateSelect), h("label", { for: "alert-model" }, "Model ", modelSelect)], { range: false });
})();
