// The supervisor's console: the live board (Server-Sent Events) and actions (admin requests).
"use strict";
(function () {
  var data = JSON.parse(document.getElementById("data").textContent);
  var csrf = document.querySelector('meta[name="csrf"]').getAttribute("content");
  function $(id) { return document.getElementById(id); }
  var el = hallqEl;
  function row(cells, cls) {
    var tr = el("tr", null, cls);
    cells.forEach(function (c) { tr.appendChild(el("td", c)); });
    return tr;
  }
  function table(id, head, rows) {
    var t = $(id);
    t.replaceChildren();
    var h = el("tr");
    head.forEach(function (c) { h.appendChild(el("th", c)); });
    t.appendChild(h);
    rows.forEach(function (r) { t.appendChild(r); });
  }
  function minutes(s) { return s > 0 ? Math.max(1, Math.round(s / 60)) + " min" : "-"; }
  function render(b) {
    var hall = b.hall || {};
    $("mode").textContent = hall.mode ? hall.mode + (hall.message ? ": " + hall.message : "") : "…";
    $("mode").className = "mode " + (hall.mode || "");
    $("link").textContent = b.controller ? "控制器在线 controller online" : "控制器离线 CONTROLLER OFFLINE";
    $("link").className = "link" + (b.controller ? "" : " down");
    var alerts = $("alerts");
    alerts.replaceChildren();
    if (!b.alerts.length) alerts.appendChild(el("li", "无 none"));
    b.alerts.forEach(function (a) { alerts.appendChild(el("li", a.text, a.severity)); });
    table("services", ["业务 service", "等候 waiting", "最长 longest", "预计 est.", "窗口 open", "状态 state"],
      b.services.map(function (s) {
        return row([s.prefix + " " + s.name, s.waiting, minutes(s.longest_wait_s), minutes(s.est_wait_s),
                    s.open_counters, s.suspended ? "暂停 SUSPENDED" : "正常 open"], s.suspended ? "bad" : "");
      }));
    table("counters", ["窗口 counter", "状态 status", "号 ticket", "柜员 clerk", "自 since"],
      b.counters.map(function (c) {
        var since = c.since ? new Date(c.since).toLocaleTimeString() : "";
        return row([c.name, c.status + (c.reason ? " (" + c.reason + ")" : ""), c.ticket || "-", c.clerk || "-", since],
                   c.status === "offline" ? "bad" : "");
      }));
    var waiting = $("waiting");
    waiting.replaceChildren();
    Object.keys(b.waiting).forEach(function (service) {
      waiting.appendChild(el("p", service + ": " + b.waiting[service].join(" "), "waitlist"));
    });
    table("devices", ["设备 device", "在线 online", "详情 detail"], b.devices.map(function (d) {
      var detail = Object.keys(d.detail).map(function (k) { return k + "=" + d.detail[k]; }).join(", ");
      return row([d.id, d.online ? "是 yes" : "否 NO", detail], d.online ? "" : "bad");
    }));
  }
  function act(op, args) {
    $("result").textContent = "…";
    fetch("/api/action", { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ op: op, args: args }) })
      .then(function (r) { return r.json(); })
      .then(function (r) {
        $("result").textContent = (r.ok ? "完成 done: " : "未执行 refused: ") + op + (r.ok ? "" : " — " + r.code + " " + r.message);
      })
      .catch(function () { $("result").textContent = "请求失败 request failed: " + op; });
  }
  function select(name, items) {
    var s = el("select");
    s.name = name;
    items.forEach(function (i) { var o = el("option", i.name); o.value = i.id; s.appendChild(o); });
    return s;
  }
  function form(label, fields, buttons) {
    var f = el("form");
    f.appendChild(el("strong", label));
    fields.forEach(function (x) { f.appendChild(x); });
    buttons.forEach(function (b) {
      var button = el("button", b[0]);
      button.type = "button";
      button.dataset.op = b[1];
      button.addEventListener("click", function () { act(b[1], b[2](f)); });
      f.appendChild(button);
    });
    $("actions").appendChild(f);
  }
  function value(f, name) { return f.querySelector("[name=" + name + "]").value.trim(); }
  function text(name, placeholder) { var i = el("input"); i.type = "text"; i.name = name; i.placeholder = placeholder; return i; }
  form("业务 Service", [select("service", data.services)], [
    ["暂停 suspend", "suspend_service", function (f) { return { service: value(f, "service") }; }],
    ["恢复 resume", "resume_service", function (f) { return { service: value(f, "service") }; }]]);
  form("窗口 Counter", [select("counter", data.counters), text("reason", "原因 reason")], [
    ["暂停服务 suspend", "suspend", function (f) { return { counter: value(f, "counter"), reason: value(f, "reason") }; }],
    ["恢复 resume", "resume", function (f) { return { counter: value(f, "counter") }; }]]);
  form("叫号 Call", [text("number", "A015"), select("counter", data.counters)], [
    ["叫到窗口 call", "call", function (f) { return { number: value(f, "number"), counter: value(f, "counter") }; }]]);
  form("故障 Outage", [text("message", "系统维护，请在休息区等候")], [
    ["开始 on", "outage", function (f) { return { active: true, message: value(f, "message") }; }],
    ["结束 off", "outage", function () { return { active: false }; }]]);
  form("公告 Notice", [text("text", "公告内容 notice text")], [
    ["发布 announce", "announce", function (f) { return { text: value(f, "text") }; }],
    ["撤下 remove", "unannounce", function (f) { return value(f, "text") ? { text: value(f, "text") } : {}; }]]);
  form("营业 Hall", [], [["开始取号 open", "open", function () { return {}; }],
                         ["停止取号 close", "close", function () { return {}; }]]);
  form("号票 Ticket", [text("ticket", "20261126-A012 / A012")], [
    ["作废 void", "void", function (f) { return { ticket_id: value(f, "ticket"), reason: "console" }; }],
    ["恢复过号 reinstate", "reinstate", function (f) { return { number: value(f, "ticket") }; }]]);
  fetch("/api/board", { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(render);
  hallqFollow("/api/board/stream", render);
})();
