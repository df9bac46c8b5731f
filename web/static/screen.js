// The browser hall screen: the same view model as the pygame screen, followed by Server-Sent
// Events, and every new call's clip played once, in order (never cut off). Run the TV's browser
// with autoplay allowed (chromium --kiosk --autoplay-policy=no-user-gesture-required).
"use strict";
(function () {
  var data = JSON.parse(document.getElementById("data").textContent);
  var played = null, queue = [], playing = false;
  function $(id) { return document.getElementById(id); }
  var el = hallqEl;
  function playNext() {
    if (playing || !queue.length) return;
    playing = true;
    var audio = new Audio(queue.shift());
    audio.onended = audio.onerror = function () { playing = false; playNext(); };
    audio.play().catch(function () { playing = false; playNext(); });
  }
  function speak(items) {
    if (played === null) {          // a (re)loaded page: what was said before is history
      played = items.reduce(function (m, s) { return Math.max(m, s.id); }, 0);
      return;
    }
    items.forEach(function (s) { if (s.id > played) { played = s.id; queue.push(s.url); } });
    playNext();
  }
  function render(vm) {
    if (!vm) return;
    $("hall").textContent = vm.hall_name + (vm.hall_name_en ? "  " + vm.hall_name_en : "");
    $("clock").textContent = vm.date_zh + "  " + vm.clock;
    var banners = $("banners");
    banners.replaceChildren();
    vm.banners.forEach(function (b) {
      banners.appendChild(el("div", b.zh + (b.en ? "  " + b.en : ""), "banner " + b.kind));
    });
    // every call live right now, newest first; a new call (or recall) flashes
    var panel = $("panel");
    panel.replaceChildren();
    panel.className = "panel calls-" + Math.min(vm.calls.length, 8);
    if (vm.calls.length) {
      vm.calls.slice(0, 8).forEach(function (c) {
        var card = el("div", null, "card" + (c.flashing ? " flash" : ""));
        if (c.recall) card.appendChild(el("div", "再次呼叫 Recall", "recall"));
        card.appendChild(el("div", c.number, "number"));
        card.appendChild(el("div", "请到 " + c.counter_name, "where"));
        card.appendChild(el("div", c.counter_name_en, "where-en"));
        panel.appendChild(card);
      });
    } else {
      panel.appendChild(el("div", vm.screen === "open" ? "暂无叫号 No calls yet" : (vm.title_zh || "") + "  " + (vm.hours_zh || ""), "idle"));
    }
    var recent = $("recent");
    recent.replaceChildren();
    vm.recent.forEach(function (r) { recent.appendChild(el("div", r.number + " → " + r.counter_name, "call")); });
    var counters = $("counters");
    counters.replaceChildren();
    vm.counters.forEach(function (c) {
      var t = el("div", null, "tile " + c.status);
      t.appendChild(el("div", c.name, "name"));
      t.appendChild(el("div", c.number || c.label_zh, "value"));
      if (c.number && c.status === "suspended") t.appendChild(el("div", c.label_zh, "label"));
      counters.appendChild(t);
    });
    var services = $("services");
    services.replaceChildren();
    vm.services.forEach(function (s) {
      var t = el("div", null, "tile" + (s.suspended ? " suspended" : ""));
      t.appendChild(el("div", s.prefix + " " + s.name, "name"));
      t.appendChild(el("div", s.suspended ? s.label_zh : "等候 " + s.waiting + " 人  " + s.est_zh, "value"));
      services.appendChild(t);
    });
    $("notices").textContent = vm.notices.join("    ");
    speak(vm.speech || []);
  }
  hallqFollow(data.stream, render);
})();
