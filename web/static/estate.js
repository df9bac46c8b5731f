// Head office's live board: every hall, followed by Server-Sent Events.
"use strict";
(function () {
  var el = hallqEl;
  function render(halls) {
    var t = document.getElementById("halls");
    t.replaceChildren();
    var head = el("tr");
    ["营业厅 hall", "状态 mode", "控制器 controller", "等候 waiting", "最长 longest", "设备离线 offline", "告警 alerts"]
      .forEach(function (h) { head.appendChild(el("th", h)); });
    t.appendChild(head);
    halls.forEach(function (h) {
      var tr = el("tr", null, h.alerts.length ? "bad" : "");
      [h.name + " (" + h.hall + ")", h.mode, h.online ? "在线 online" : "离线 OFFLINE", h.waiting,
       Math.round(h.longest_wait_s / 60) + " min", h.devices_offline, h.alerts.join("; ") || "-"]
        .forEach(function (c) { tr.appendChild(el("td", c)); });
      t.appendChild(tr);
    });
  }
  fetch("/board", { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(render);
  hallqFollow("/board/stream", render);
})();
