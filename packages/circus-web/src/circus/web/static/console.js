// circushttpd's pages: one EventSource per tab feeds every table and chart;
// every action is a POST carrying the XSRF token. Text goes in with
// textContent only, never innerHTML, so no name or output line can inject markup.
"use strict";
(function () {
  const body = document.body;
  const page = body.dataset.page;
  const admin = body.dataset.role === "admin";
  const xsrf = document.querySelector('meta[name="xsrf"]').content;
  const POINTS = 60;
  const nodes = {};
  const series = {};   // key -> {t: [], a: [], b: [], plot, el}

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v;
      else if (k.startsWith("data-")) node.setAttribute(k, v);
      else node[k] = v;
    }
    for (const c of children) if (c) node.append(c);
    return node;
  }

  function flash(text, bad) {
    const box = document.getElementById("flash");
    box.textContent = text;
    box.className = bad ? "flash bad" : "flash";
    box.hidden = false;
    clearTimeout(flash.timer);
    flash.timer = setTimeout(() => { box.hidden = true; }, 5000);
  }

  async function act(node, action, fields) {
    const form = new URLSearchParams(fields || {});
    const reply = await fetch(`/api/${node}/${action}`, {
      method: "POST", body: form, credentials: "same-origin",
      headers: {"X-XSRFToken": xsrf},
    });
    let data = {};
    try { data = await reply.json(); } catch (e) { data = {reason: reply.statusText}; }
    if (!reply.ok || data.status === "error") {
      throw new Error(`${action}: ${data.reason || reply.status}`);
    }
    return data;
  }

  function num(v) { return typeof v === "number" ? v : null; }

  // Ready processes of a watcher whose circusd reports readiness (ours), else null.
  function readyCount(w) {
    if (!w.health) return null;
    let n = 0;
    for (const pid of w.pids) if (w.health[pid] === "ready") n += 1;
    return n;
  }

  // A small live chart: two series (cpu, mem) or one (hits).
  function chart(key, container, labels, width, height, axes) {
    if (series[key]) return series[key];
    const colours = ["#d9534f", "#337ab7"];
    const s = {t: [], vals: labels.map(() => []), el: container};
    const opts = {
      width: width, height: height, legend: {show: axes}, cursor: {show: axes},
      scales: {x: {time: true}},
      axes: axes ? [{}, {}] : [{show: false}, {show: false}],
      series: [{}].concat(labels.map((l, i) => ({label: l, stroke: colours[i], width: 1.5,
                                                   points: {show: axes}}))),
    };
    s.plot = new uPlot(opts, [s.t].concat(s.vals), container);
    series[key] = s;
    return s;
  }

  function push(s, time, values) {
    s.t.push(time);
    values.forEach((v, i) => s.vals[i].push(v));
    if (s.t.length > POINTS) { s.t.shift(); s.vals.forEach((a) => a.shift()); }
    s.plot.setData([s.t].concat(s.vals));
    s.el.dataset.points = String(s.t.length);
    s.el.dataset.last = values.map((v) => (v === null ? "n/a" : String(v))).join(" ");
  }

  function forget(prefix, keep) {
    for (const key of Object.keys(series)) {
      if (key.startsWith(prefix) && !keep.has(key)) { series[key].plot.destroy(); delete series[key]; }
    }
  }

  // ---- nodes page -------------------------------------------------------
  function renderNodes(snap) {
    const row = document.querySelector(`#nodes tr[data-node="${snap.id}"]`);
    if (!row) return;
    const state = row.querySelector(".state");
    state.textContent = snap.state + (snap.error ? ` (${snap.error})` : "");
    state.className = "state " + snap.state;
    const names = Object.keys(snap.watchers);
    row.querySelector(".nwatchers").textContent = String(names.length);
    row.querySelector(".nprocs").textContent =
      String(names.reduce((n, w) => n + snap.watchers[w].pids.length, 0));
  }

  // ---- watchers page ----------------------------------------------------
  function renderWatchers(snap) {
    const section = document.querySelector(`section.node[data-node="${snap.id}"]`);
    if (!section) return;
    const state = section.querySelector(".state");
    state.textContent = snap.state + (snap.error ? ` (${snap.error})` : "");
    state.className = "state " + snap.state;
    const tbody = section.querySelector("tbody");
    const names = Object.keys(snap.watchers).sort();
    const keep = new Set();
    for (const name of names) {
      const w = snap.watchers[name];
      let row = tbody.querySelector(`tr[data-watcher="${CSS.escape(name)}"]`);
      if (!row) {
        row = el("tr", {"data-watcher": name, "data-testid": `row-${snap.id}-${name}`});
        if (admin) row.append(el("td", {}, el("input", {type: "checkbox", className: "pick",
          "data-node": snap.id, "data-name": name})));
        row.append(
          el("td", {}, el("a", {href: `/node/${snap.id}/watcher/${encodeURIComponent(name)}`, text: name})),
          el("td", {className: "status"}), el("td", {className: "count"}),
          el("td", {className: "ready"}),
          el("td", {}, el("div", {className: "spark cpu"}), el("span", {className: "val cpu-val"})),
          el("td", {}, el("div", {className: "spark mem"}), el("span", {className: "val mem-val"})),
          el("td", {className: "actions"}));
        if (admin) {
          const cell = row.querySelector(".actions");
          for (const a of ["start", "stop", "restart", "reload"]) {
            cell.append(el("button", {className: "act", text: a, "data-action": a,
              "data-node": snap.id, "data-name": name, "data-testid": `${a}-${snap.id}-${name}`}));
          }
        }
        tbody.append(row);
      }
      const status = row.querySelector(".status");
      status.textContent = w.status;
      status.className = "status " + w.status;
      row.querySelector(".count").textContent = String(w.pids.length);
      const ready = readyCount(w);
      row.querySelector(".ready").textContent = ready === null ? "" : `${ready}/${w.pids.length}`;
      keep.add(`spark/${snap.id}/${name}/cpu`);
      keep.add(`spark/${snap.id}/${name}/mem`);
    }
    for (const row of tbody.querySelectorAll("tr[data-watcher]")) {
      if (!(row.dataset.watcher in snap.watchers)) row.remove();
    }
    forget(`spark/${snap.id}/`, keep);
  }

  function statsWatchers(st) {
    const section = document.querySelector(`section.node[data-node="${st.node}"]`);
    if (!section) return;
    for (const [name, v] of Object.entries(st.watchers)) {
      const row = section.querySelector(`tr[data-watcher="${CSS.escape(name)}"]`);
      if (!row) continue;
      const cpu = chart(`spark/${st.node}/${name}/cpu`, row.querySelector(".spark.cpu"), ["cpu"], 110, 28, false);
      const mem = chart(`spark/${st.node}/${name}/mem`, row.querySelector(".spark.mem"), ["mem"], 110, 28, false);
      push(cpu, st.time, [num(v.cpu)]);
      push(mem, st.time, [num(v.mem)]);
      row.querySelector(".cpu-val").textContent = num(v.cpu) === null ? "n/a" : v.cpu.toFixed(1);
      row.querySelector(".mem-val").textContent = num(v.mem) === null ? "n/a" : v.mem.toFixed(1);
    }
  }

  async function bulk(action) {
    const picked = [...document.querySelectorAll("input.pick:checked")];
    const bar = document.getElementById("bulk-progress");
    const status = document.getElementById("bulk-status");
    if (!picked.length) { flash("Select watchers first", true); return; }
    bar.max = picked.length; bar.value = 0; bar.hidden = false;
    let failed = 0;
    for (const box of picked) {
      status.textContent = `${action} ${box.dataset.name}… (${bar.value}/${picked.length})`;
      try { await act(box.dataset.node, action, {name: box.dataset.name}); }
      catch (e) { failed += 1; flash(e.message, true); }
      bar.value += 1;
    }
    status.textContent = `${action}: ${picked.length - failed}/${picked.length} done` +
      (failed ? `, ${failed} failed` : "");
  }

  // ---- one watcher ------------------------------------------------------
  // Cards (and charts) for one page of processes at a time: a watcher of a
  // thousand processes must not build a thousand charts.
  const CARDS_PER_PAGE = 24;
  let cardPage = 0;
  let lastSnap = null;

  function renderWatcher(snap) {
    if (snap.id !== body.dataset.node) return;
    lastSnap = snap;
    const w = snap.watchers[body.dataset.watcher];
    const status = document.querySelector('[data-testid="watcher-status"]');
    const box = document.getElementById("procs");
    if (!w) { status.textContent = snap.state === "up" ? "removed" : snap.state; return; }
    status.textContent = w.status;
    status.className = "status " + w.status;
    document.querySelector('[data-testid="numprocesses"]').textContent = String(w.pids.length);
    const ready = readyCount(w);
    const readyBox = document.querySelector('[data-testid="ready-count"]');
    readyBox.hidden = ready === null;
    readyBox.textContent = ready === null ? "" : `${ready}/${w.pids.length} ready`;
    const failed = w.last_unhealthy;
    const failBox = document.querySelector('[data-testid="last-unhealthy"]');
    failBox.hidden = !failed;
    failBox.textContent = failed ? `last unhealthy: pid ${failed.pid}` +
      (failed.failures ? ` after ${failed.failures} failed checks` : "") +
      ` at ${new Date(failed.time * 1000).toLocaleTimeString()}: ${failed.output}` : "";
    const pages = Math.max(1, Math.ceil(w.pids.length / CARDS_PER_PAGE));
    cardPage = Math.min(cardPage, pages - 1);
    const shown = w.pids.slice(cardPage * CARDS_PER_PAGE, (cardPage + 1) * CARDS_PER_PAGE);
    const pager = document.getElementById("pager");
    pager.hidden = pages === 1;
    pager.querySelector(".where").textContent =
      `processes ${cardPage * CARDS_PER_PAGE + 1}–${cardPage * CARDS_PER_PAGE + shown.length} of ${w.pids.length}`;
    const keep = new Set();
    for (const pid of shown) {
      keep.add(`proc/${pid}`);
      if (box.querySelector(`.proc[data-pid="${pid}"]`)) continue;
      const card = el("div", {className: "card proc", "data-pid": String(pid), "data-testid": `proc-${pid}`},
        el("div", {className: "proc-head"}, el("strong", {text: `pid ${pid}`}),
          el("span", {className: "health", hidden: true, "data-testid": `health-${pid}`}),
          el("span", {className: "age"}),
          admin ? el("button", {className: "act kill", text: "kill", "data-action": "kill",
            "data-name": body.dataset.watcher, "data-pid": String(pid), "data-testid": `kill-${pid}`}) : null),
        el("div", {className: "chart", "data-testid": `chart-${pid}`}),
        el("div", {className: "vals mono"}));
      box.append(card);
    }
    for (const card of box.querySelectorAll(".proc")) {
      if (!keep.has(`proc/${card.dataset.pid}`)) { card.remove(); continue; }
      const state = (w.health && w.health[card.dataset.pid]) || "";
      const badge = card.querySelector(".health");
      if (badge.textContent !== state) {
        badge.textContent = state;
        badge.className = "health " + state;
        badge.hidden = !state;
      }
    }
    forget("proc/", keep);
  }

  function turnPage(step) {
    cardPage = Math.max(0, cardPage + step);
    if (lastSnap) renderWatcher(lastSnap);
  }

  function statsWatcher(st) {
    if (st.node !== body.dataset.node) return;
    for (const [pid, v] of Object.entries(st.pids)) {
      if (v.watcher !== body.dataset.watcher) continue;
      const card = document.querySelector(`#procs .proc[data-pid="${pid}"]`);
      if (!card) continue;
      const s = chart(`proc/${pid}`, card.querySelector(".chart"), ["cpu %", "mem %"], 280, 110, true);
      push(s, st.time, [num(v.cpu), num(v.mem)]);
      card.querySelector(".age").textContent = num(v.age) === null ? "" : ` · up ${Math.round(v.age)} s`;
      card.querySelector(".vals").textContent = `cpu ${v.cpu} % · mem ${v.mem} % · ${v.mem_info1 || ""}`;
    }
  }

  function addOutput(msg) {
    if (msg.node !== body.dataset.node) return;
    const pre = document.getElementById("tail");
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    for (const line of msg.lines) {
      if (line.watcher !== body.dataset.watcher) continue;
      const row = el("span", {className: "line " + line.stream});
      row.append(el("span", {className: "meta", text: `${line.pid} ${line.stream} `}));
      row.append(document.createTextNode(String(line.data).replace(/\n$/, "") + "\n"));
      pre.append(row);
    }
    while (pre.childNodes.length > 1000) pre.firstChild.remove();
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  }

  // ---- sockets ----------------------------------------------------------
  function renderSockets(snap) {
    const section = document.querySelector(`section.node[data-node="${snap.id}"]`);
    if (!section) return;
    const box = section.querySelector(".sockets");
    for (const s of snap.sockets) {
      if (box.querySelector(`[data-fd="${s.fd}"]`)) continue;
      const where = s.path || `${s.host}:${s.port}`;
      box.append(el("div", {className: "card sock", "data-fd": String(s.fd), "data-testid": `sock-${snap.id}-${s.name}`},
        el("strong", {text: s.name}), el("span", {className: "mono", text: ` ${where} (fd ${s.fd})`}),
        el("div", {className: "chart"}), el("div", {className: "vals mono"})));
    }
  }

  function statsSockets(st) {
    const section = document.querySelector(`section.node[data-node="${st.node}"]`);
    if (!section) return;
    for (const [fd, v] of Object.entries(st.sockets)) {
      const card = section.querySelector(`[data-fd="${fd}"]`);
      if (!card) continue;
      const s = chart(`sock/${st.node}/${fd}`, card.querySelector(".chart"), ["hits/s"], 280, 110, true);
      push(s, st.time, [num(v.reads)]);
      card.querySelector(".vals").textContent = `${v.reads} hits in the last second`;
    }
  }

  // ---- stream -----------------------------------------------------------
  const render = {nodes: renderNodes, watchers: renderWatchers, watcher: renderWatcher,
                  sockets: renderSockets}[page];
  const stats = {watchers: statsWatchers, watcher: statsWatcher, sockets: statsSockets}[page];
  let url = "/api/events";
  if (page === "watcher") {
    url += "?tail=" + encodeURIComponent(`${body.dataset.node}/${body.dataset.watcher}`);
  }
  if (render || stats || page === "add") {
    const source = new EventSource(url);
    // Close the stream as the page goes: a browser may keep a left page's
    // stream open for a while, and six of them exhaust its connections to us.
    window.addEventListener("pagehide", () => source.close());
    const live = document.getElementById("live");
    source.onopen = () => { live.className = "live on"; };
    source.onerror = () => { live.className = "live off"; };
    source.addEventListener("node", (e) => {
      const snap = JSON.parse(e.data);
      nodes[snap.id] = snap;
      if (render) render(snap);
    });
    source.addEventListener("stats", (e) => { if (stats) stats(JSON.parse(e.data)); });
    source.addEventListener("output", (e) => { if (page === "watcher") addOutput(JSON.parse(e.data)); });
    source.addEventListener("audit", (e) => {
      const list = document.getElementById("audit");
      if (!list) return;
      const a = JSON.parse(e.data);
      const when = new Date(a.time * 1000).toLocaleTimeString();
      list.prepend(el("li", {text: `${when} ${a.user} ${a.action} ${a.node} ${JSON.stringify(a.target)} → ${a.result}`}));
      while (list.children.length > 50) list.lastChild.remove();
    });
  }

  // ---- actions ----------------------------------------------------------
  document.addEventListener("click", async (e) => {
    const button = e.target.closest("button.act");
    if (button) {
      e.preventDefault();
      const d = button.dataset;
      const fields = {};
      if (d.name) fields.name = d.name;
      if (d.pid) fields.pid = d.pid;
      if (d.confirm && !window.confirm(d.confirm)) return;
      button.disabled = true;
      try { await act(d.node || body.dataset.node, d.action, fields); flash(`${d.action}: ok`); }
      catch (err) { flash(err.message, true); }
      finally { button.disabled = false; }
      return;
    }
    const pageButton = e.target.closest("button.page");
    if (pageButton) { turnPage(Number(pageButton.dataset.step)); return; }
    const bulkButton = e.target.closest("button.bulk-act");
    if (bulkButton) { e.preventDefault(); await bulk(bulkButton.dataset.action); }
  });
  document.addEventListener("change", (e) => {
    if (e.target.id === "select-all") {
      for (const box of document.querySelectorAll("input.pick")) box.checked = e.target.checked;
    }
  });
  document.addEventListener("submit", async (e) => {
    const form = e.target;
    if (form.classList.contains("set-form")) {
      e.preventDefault();
      const data = Object.fromEntries(new FormData(form));
      try { await act(body.dataset.node, "set", {name: form.dataset.name, key: data.key, value: data.value}); flash(`set ${data.key}: ok`); }
      catch (err) { flash(err.message, true); }
    } else if (form.id === "add-form") {
      e.preventDefault();
      const data = Object.fromEntries(new FormData(form));
      try {
        await act(body.dataset.node, "add", data);
        window.location = `/node/${body.dataset.node}/watcher/${encodeURIComponent(data.name)}`;
      } catch (err) { flash(err.message, true); }
    }
  });
})();
