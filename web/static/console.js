// The supervisor's console: the live board (Server-Sent Events) with each action on the row it is
// for, a confirmation before what stops service or voids a ticket, alerts grouped by kind with an
// acknowledgement. Texts come translated from the server (data.labels); every hall text is set as
// textContent. Works by keyboard alone and at a phone's width.
"use strict";
(function () {
  var data = JSON.parse(document.getElementById("data").textContent);
  var L = data.labels;
  var csrf = document.querySelector('meta[name="csrf"]').getAttribute("content");
  var el = hallqEl;
  var board = null;
  function $(id) { return document.getElementById(id); }
  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (_, k) { return values[k] === undefined ? "" : values[k]; });
  }
  function minutes(s) { return s > 0 ? fill(L.minutes_n, { n: Math.max(1, Math.round(s / 60)) }) : "-"; }

  // --- asking: one dialog, for confirmations and for a number or a reason -----------------------
  function ask(text, opts, then) {
    var dialog = $("ask"), input = $("ask-input");
    $("ask-text").textContent = text;
    $("ask-ok").textContent = opts.ok || L.confirm;
    $("ask-cancel").textContent = L.cancel;
    input.hidden = !opts.input;
    input.value = "";
    input.placeholder = opts.input || "";
    dialog.onclose = function () {
      dialog.onclose = null;
      if (dialog.returnValue === "ok" && (!opts.required || input.value.trim())) then(input.value.trim());
    };
    dialog.returnValue = "";
    dialog.showModal();
    (opts.input ? input : $("ask-ok")).focus();
  }

  // --- acting: an admin request through the web service ----------------------------------------------
  function act(op, args, what) {
    $("result").textContent = L.working;
    $("result").className = "result";
    return fetch("/api/action", { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ op: op, args: args }) })
      .then(function (r) { return r.json(); })
      .then(function (r) {
        $("result").textContent = (r.ok ? L.done : L.refused) + ": " + what + (r.ok ? "" : " — " + r.message);
        $("result").className = "result " + (r.ok ? "ok" : "bad");
      })
      .catch(function () { $("result").textContent = L.failed + ": " + what; $("result").className = "result bad"; });
  }
  function button(text, op, cls, onclick) {
    var b = el("button", text, cls);
    b.type = "button";
    b.dataset.op = op;
    b.addEventListener("click", onclick);
    return b;
  }

  // --- the board ----------------------------------------------------------------------------------
  function table(id, head, rows) {
    var t = $(id);
    t.replaceChildren();
    var h = el("tr");
    head.forEach(function (c) { var th = el("th", c); th.scope = "col"; h.appendChild(th); });
    t.appendChild(h);
    rows.forEach(function (r) {
      Array.prototype.forEach.call(r.children, function (td, i) { td.dataset.label = head[i]; });  // a phone's card
      t.appendChild(r);
    });
  }
  function row(cells, cls, key) {
    var tr = el("tr", null, cls);
    if (key) tr.dataset.id = key;
    cells.forEach(function (c) {
      var td = el("td");
      if (c instanceof Node) { td.appendChild(c); td.className = "acts-cell"; }
      else td.textContent = c === null || c === undefined ? "-" : c;
      tr.appendChild(td);
    });
    return tr;
  }
  function group(nodes) { var span = el("span", null, "acts"); nodes.forEach(function (n) { span.appendChild(n); }); return span; }

  function serviceRow(s) {
    var acts = s.suspended
      ? [button(L.resume_service, "resume_service", "", function () { act("resume_service", { service: s.id }, L.resume_service + " " + s.name); })]
      : [button(L.suspend_service, "suspend_service", "warn", function () {
          ask(fill(L.ask_suspend_service, { name: s.name }), { ok: L.suspend_service }, function () {
            act("suspend_service", { service: s.id }, L.suspend_service + " " + s.name); }); })];
    return row([s.prefix + " " + s.name, s.waiting, minutes(s.longest_wait_s),
                s.waiting > 0 && s.est_known === false ? L.not_known : minutes(s.est_wait_s),
                s.open_counters, s.state_text, group(acts)], s.suspended ? "bad" : "", s.id);
  }
  function counterRow(c) {
    var acts = [];
    if (c.status === "suspended") {
      acts.push(button(L.resume, "resume", "", function () { act("resume", { counter: c.id }, L.resume + " " + c.name); }));
    } else {
      acts.push(button(L.suspend, "suspend", "warn", function () {
        ask(fill(L.ask_reason, { name: c.name }), { ok: L.suspend, input: L.reason }, function (reason) {
          act("suspend", reason ? { counter: c.id, reason: reason } : { counter: c.id }, L.suspend + " " + c.name); }); }));
      acts.push(button(L.call, "call", "", function () {
        ask(fill(L.ask_call, { name: c.name }), { ok: L.call, input: L.number, required: true }, function (number) {
          act("call", { counter: c.id, number: number.toUpperCase() }, L.call + " " + number.toUpperCase() + " → " + c.name); }); }));
    }
    var status = c.status_text + (c.reason ? " (" + c.reason + ")" : "");
    return row([c.name, status, c.ticket, c.clerk, c.since || "", group(acts)],
               c.status === "offline" ? "bad" : (c.status === "suspended" ? "paused" : ""), c.id);
  }

  var acked = {};
  try { acked = JSON.parse(localStorage.getItem("hallq-acked") || "{}"); } catch (e) { acked = {}; }
  function renderAlerts(alerts) {
    var box = $("alerts");
    box.replaceChildren();
    var live = {};
    alerts.forEach(function (a) { live[a.id] = a.text; });
    Object.keys(acked).forEach(function (id) { if (live[id] !== acked[id]) delete acked[id]; });  // changed: shown again
    try { localStorage.setItem("hallq-acked", JSON.stringify(acked)); } catch (e) { /* private mode */ }
    var open = alerts.filter(function (a) { return acked[a.id] !== a.text; });
    if (!open.length) { box.appendChild(el("p", L.no_alerts, "quiet")); }
    var groups = {};
    open.forEach(function (a) { (groups[a.kind_text] = groups[a.kind_text] || []).push(a); });
    Object.keys(groups).forEach(function (kind) {
      var g = el("div", null, "alert-group");
      g.appendChild(el("h3", kind + " (" + groups[kind].length + ")"));
      var ul = el("ul");
      groups[kind].forEach(function (a) {
        var li = el("li", null, a.severity);
        li.appendChild(el("span", (a.since ? a.since + " " : "") + a.text));
        li.appendChild(button(L.acknowledge, "acknowledge", "small", function () {
          acked[a.id] = a.text;
          renderAlerts(board.alerts);
        }));
        ul.appendChild(li);
      });
      g.appendChild(ul);
      box.appendChild(g);
    });
    var count = alerts.length - open.length;
    if (count) box.appendChild(el("p", L.acknowledged + ": " + count, "quiet"));
  }

  // the board is drawn anew at every change: the button that had the focus gets it back
  function focusKey() {
    var f = document.activeElement;
    if (!f || !f.dataset || !f.dataset.op) return null;
    var tr = f.closest("tr[data-id]"), box = f.closest("[id]");
    return { row: tr ? tr.dataset.id : null, box: box ? box.id : null, op: f.dataset.op };
  }
  function refocus(key) {
    if (!key) return;
    var scope = key.row ? document.querySelector('tr[data-id="' + key.row + '"]') : $(key.box);
    var target = scope && scope.querySelector('button[data-op="' + key.op + '"]');
    if (target) target.focus();
  }
  function render(b) {
    var key = focusKey();
    draw(b);
    refocus(key);
  }
  function draw(b) {
    board = b;
    var hall = b.hall || {};
    $("mode").textContent = hall.mode_text ? hall.mode_text + (hall.message ? ": " + hall.message : "") : "…";
    $("mode").className = "mode " + (hall.mode || "");
    $("link").textContent = b.controller ? L.controller_online : L.controller_offline;
    $("link").className = "link" + (b.controller ? "" : " down");
    $("clock").textContent = b.clock || "";
    renderAlerts(b.alerts);
    table("services", [L.service, L.waiting_n, L.longest, L.estimate, L.open_counters, L.state, L.actions],
          b.services.map(serviceRow));
    table("counters", [L.counter, L.status, L.ticket, L.clerk, L.since, L.actions], b.counters.map(counterRow));
    var waiting = $("waiting");
    waiting.replaceChildren();
    if (!b.records) waiting.appendChild(el("p", L.records_behind, "quiet"));
    b.waiting.forEach(function (w) {
      var p = el("p", null, "waitlist");
      p.appendChild(el("strong", w.name + " (" + w.numbers.length + ")"));
      p.appendChild(el("span", " " + w.numbers.join(" ")));
      waiting.appendChild(p);
    });
    if (b.records && !b.waiting.length) waiting.appendChild(el("p", L.none, "quiet"));
    var notices = $("notices");
    notices.replaceChildren();
    (hall.notices || []).forEach(function (n) {
      var li = el("li", null);
      li.appendChild(el("span", n));
      li.appendChild(button(L.unannounce, "unannounce", "small", function () { act("unannounce", { text: n }, L.unannounce + " " + n); }));
      notices.appendChild(li);
    });
    table("devices", [L.device, L.online, L.detail], b.devices.map(function (d) {
      var detail = Object.keys(d.detail).map(function (k) { return k + "=" + d.detail[k]; }).join(", ");
      return row([d.name, d.online ? L.yes : L.no, detail], d.online ? "" : "bad", d.id);
    }));
    hallActions(hall);
  }

  function hallActions(hall) {
    var box = $("hall-actions");
    box.replaceChildren();
    var acts = [];
    if (hall.mode === "outage") {
      acts.push(button(L.outage_off, "outage", "", function () { act("outage", { active: false }, L.outage_off); }));
    } else {
      acts.push(button(L.outage_on, "outage", "warn", function () {
        ask(L.ask_outage, { ok: L.outage_on, input: L.message }, function (message) {
          act("outage", message ? { active: true, message: message } : { active: true }, L.outage_on); }); }));
    }
    if (hall.mode === "closed") {
      acts.push(button(L.open, "open", "", function () { act("open", {}, L.open); }));
    } else {
      acts.push(button(L.close, "close", "warn", function () {
        ask(L.ask_close, { ok: L.close }, function () { act("close", {}, L.close); }); }));
    }
    acts.push(button(L.announce, "announce", "", function () {
      ask(L.announce, { ok: L.announce, input: L.notice, required: true }, function (text) { act("announce", { text: text }, L.announce); }); }));
    acts.forEach(function (b) { box.appendChild(b); });
  }

  function ticketActions() {
    var box = $("ticket-actions");
    box.appendChild(button(L.void, "void", "warn", function () {
      ask(L.void, { ok: L.void, input: L.number, required: true }, function (number) {
        number = number.toUpperCase();
        ask(fill(L.ask_void, { number: number }), { ok: L.void }, function () {
          var day = board && board.hall ? board.hall.day.replace(/-/g, "") : "";
          act("void", { ticket_id: day + "-" + number, reason: "console" }, L.void + " " + number); }); }); }));
    box.appendChild(button(L.reinstate, "reinstate", "", function () {
      ask(L.reinstate, { ok: L.reinstate, input: L.number, required: true }, function (number) {
        act("reinstate", { number: number.toUpperCase() }, L.reinstate + " " + number.toUpperCase()); }); }));
  }

  ticketActions();
  fetch("/api/board", { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(render);
  hallqFollow("/api/board/stream", render);
})();
