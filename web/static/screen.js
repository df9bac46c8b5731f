// The browser hall screen: the same view model as the pygame screen (followed by Server-Sent
// Events) drawn on the same layout: the web service computes it with the display's own layout
// engine for this window's size (GET layout), and this script places each text as render.py does,
// shrinking a text to its room as pygame's text cache does. Every new call's clip is played once,
// in order (never cut off). Run the TV's browser with autoplay allowed
// (chromium --kiosk --autoplay-policy=no-user-gesture-required).
"use strict";
(function () {
  var data = JSON.parse(document.getElementById("data").textContent);
  var root = document.getElementById("screen");
  var layout = null, layoutKey = null, asked = null, lastVm = null;
  var played = null, queue = [], playing = false;
  var el = hallqEl;

  // --- speech: each clip once, one after another ----------------------------------------------------
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

  // --- the layout for this size, banners and notices ------------------------------------------------
  function keyOf(vm) {
    var banners = vm.banners.map(function (b) { return b.kind + "." + (b.en && data.show_english ? 1 : 0); });
    return [window.innerWidth, window.innerHeight, banners.join(","), vm.notices.length ? 1 : 0,
            vm.counters.length, vm.services.length].join("|");
  }
  function ensureLayout(vm) {
    var key = keyOf(vm);
    if (key === layoutKey || key === asked) return;
    asked = key;
    var p = key.split("|");
    fetch(data.layout + "?w=" + p[0] + "&h=" + p[1] + "&banners=" + p[2] + "&notices=" + p[3])
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (doc) {
        if (!doc || asked !== key) return;
        layout = doc; layoutKey = key;
        Object.keys(doc.theme).forEach(function (k) { root.style.setProperty("--" + k, doc.theme[k]); });
        draw(lastVm);
      })
      .catch(function () { asked = null; });
  }
  window.addEventListener("resize", function () { if (lastVm) ensureLayout(lastVm); });

  // --- drawing helpers ---------------------------------------------------------------------------------
  function words(key, lang, values) {
    var text = layout.words[key][lang === "en" ? 1 : 0];
    Object.keys(values || {}).forEach(function (k) { text = text.split("{" + k + "}").join(values[k]); });
    return text;
  }
  function area(rect, cls) {
    var a = el("div", null, "area " + cls);
    a.style.left = rect[0] + "px"; a.style.top = rect[1] + "px";
    a.style.width = rect[2] + "px"; a.style.height = rect[3] + "px";
    root.appendChild(a);
    return a;
  }
  function place(e, anchor, x, y) {
    var w = e.offsetWidth, h = e.offsetHeight, left = x, top = y;
    if (/right$/.test(anchor)) left = x - w;
    else if (/^mid(top|bottom)$|^center$/.test(anchor)) left = x - w / 2;
    if (/^bottom/.test(anchor) || anchor === "midbottom") top = y - h;
    else if (anchor === "midleft" || anchor === "midright" || anchor === "center") top = y - h / 2;
    left = Math.round(left); top = Math.round(top);
    e.style.left = left + "px"; e.style.top = top + "px";
    return { e: e, left: left, top: top, right: left + w, bottom: top + h, w: w, h: h, centery: top + h / 2 };
  }
  // a text of `kind` (a key of MIN_TEXT) at `size` px, shrunk to `maxW` if wider, placed by `anchor`
  function put(kind, text, size, colour, anchor, x, y, maxW, bold, tag) {
    if (text === null || text === undefined || !String(text).trim()) return null;
    var e = el(tag || "div", text, "t c-" + colour + (bold ? " b" : ""));
    e.dataset.kind = kind;
    size = Math.max(6, Math.floor(size));
    e.style.fontSize = size + "px";
    root.appendChild(e);
    for (var i = 0; i < 3 && maxW > 0 && e.offsetWidth > maxW; i++) {
      size = Math.max(6, Math.floor(size * maxW / e.offsetWidth));
      e.style.fontSize = size + "px";
    }
    return place(e, anchor, x, y);
  }
  function centre(rect) { return [rect[0] + Math.floor(rect[2] / 2), rect[1] + Math.floor(rect[3] / 2)]; }

  // --- the parts, as display/render.py draws them --------------------------------------------------------
  function header(vm, u) {
    var h = layout.header, pad = Math.round(12 * u), english = !!(vm.hall_name_en && data.show_english);
    area([0, 0, layout.width, h[1] + h[3]], "bg-header");
    var name = put("any", vm.hall_name, 44 * u, "text", english ? "topleft" : "midleft", h[0] + pad,
                   english ? h[1] + pad : h[1] + Math.floor(h[3] / 2), h[2] * 0.55, true, "h1");
    if (english && name) put("any", vm.hall_name_en, 22 * u, "muted", "topleft", name.left, name.bottom + Math.round(4 * u), h[2] * 0.55);
    var date = vm.date_zh + (data.show_english && !layout.portrait ? "   " + vm.date_en : "");
    put("any", date, 22 * u, "muted", "bottomright", h[0] + h[2] - pad, h[1] + h[3] - pad, h[2] * 0.4);
    put("any", vm.clock, 44 * u, "text", "topright", h[0] + h[2] - Math.round(12 * u), h[1] + Math.round(6 * u), 0, true);
  }
  function banner(b, rect, u) {
    area([0, rect[1], layout.width, rect[3]], "bg-" + b.kind);
    var width = rect[2] - Math.round(40 * u), en = data.show_english ? b.en : "", c = centre(rect);
    if (b.kind === "outage") {
      if (en) {
        var zh = put("any", b.zh, 52 * u, "text", "midbottom", c[0], rect[1] + Math.round(74 * u), width, true);
        put("any", en, 28 * u, "text", "midtop", c[0], zh.bottom + Math.round(8 * u), width);
      } else {
        put("any", b.zh, 52 * u, "text", "center", c[0], c[1], width, true);
      }
      return;
    }
    var left = put("any", b.zh, 34 * u, "text", "midleft", 0, c[1], width * 0.6, true);
    var gap = en ? Math.round(30 * u) : 0;
    var right = en ? put("any", en, 24 * u, "text", "midleft", 0, c[1], width * 0.38) : null;
    var x = c[0] - Math.floor((left.w + gap + (right ? right.w : 0)) / 2);
    place(left.e, "midleft", x, c[1]);
    if (right) place(right.e, "midleft", x + left.w + gap, c[1]);
  }
  function section(rect, key, u) {
    area(rect, "bg-panel panel");
    var pad = Math.round(12 * u);
    var title = put("any", words(key, "zh"), 28 * u, "muted", "topleft", rect[0] + pad, rect[1] + pad, 0, true);
    if (data.show_english)
      put("any", words(key, "en"), 20 * u, "muted", "bottomleft", title.right + Math.round(12 * u), title.bottom, rect[2] * 0.4);
    area([rect[0] + pad, rect[1] + Math.round(44 * u), rect[2] - 2 * pad, Math.max(1, Math.round(2 * u))], "bg-line");
  }
  function centreView(vm, u) {
    var s = layout.safe, h = layout.header, t = layout.ticker;
    var top = h[1] + h[3], bottom = t ? t[1] : s[1] + s[3], cx = s[0] + Math.floor(s[2] / 2);
    var lines = [["any", vm.title_zh, 110 * u, vm.screen === "closed" ? "warn" : "muted", true]];
    if (data.show_english) lines.push(["any", vm.title_en, 48 * u, "muted", false]);
    if (vm.screen === "closed") {
      lines.push(["any", vm.hours_zh, 44 * u, "text", false]);
      if (data.show_english) lines.push(["any", vm.hours_en, 36 * u, "text", false]);
    }
    var placed = lines.map(function (l) { return put(l[0], l[1], l[2], l[3], "midtop", cx, 0, s[2], l[4]); });
    var gap = Math.round(24 * u), total = 0;
    placed.forEach(function (p) { if (p) total += p.h + gap; });
    var y = Math.floor((top + bottom) / 2 - (total - gap) / 2);
    placed.forEach(function (p) {
      if (!p) return;
      place(p.e, "midtop", cx, y);
      y += p.h + gap;
    });
  }
  function recent(vm, u) {
    var rect = layout.sections.recent, pad = Math.round(12 * u);
    section(rect, "recent_calls", u);
    var y = layout.body_top.recent;
    if (!vm.recent.length) {
      put("any", data.show_english ? words("none", "zh") + "  " + words("none", "en") : words("none", "zh"), 24 * u,
          "muted", "midleft", rect[0] + pad, Math.floor((y + rect[1] + rect[3]) / 2));
      return;
    }
    vm.recent.slice(0, layout.recent_slots.length).forEach(function (call, i) {
      var slot = layout.recent_slots[i], cy = slot[1] + Math.floor(slot[3] / 2);
      var num = put("tile_number", call.number, 30 * u, "accent", "midleft", slot[0], cy, 0, true);
      put("any", "→ " + call.counter_name, 24 * u, "text", "midleft", num.right + Math.round(10 * u), cy,
          slot[2] - num.w - 24 * u);
    });
  }
  function counters(vm, u) {
    section(layout.sections.counters, "counters", u);
    vm.counters.slice(0, layout.counter_cells.length).forEach(function (c, i) {
      var cell = layout.counter_cells[i], inset = Math.round(8 * u);
      var left = cell[0], top = cell[1], w = cell[2], h = cell[3], right = left + w, cy = top + Math.floor(h / 2);
      var tile = area(cell, "bg-background tile" + (c.status === "suspended" ? " suspended" : ""));
      tile.style.borderWidth = Math.max(1, Math.round(3 * u)) + "px";
      var labelColour = c.status === "suspended" ? "warn" : "muted", bold = c.status === "suspended";
      if (layout.compact_tiles) {
        var m = /^Counter (\d+)$/.exec(c.name_en), short = m ? m[1] + "号" : c.name;
        var name = put("tile_name", short, Math.min(h * 0.46, 28 * u), "text", "midleft", left + inset, cy, w * 0.42);
        var room = right - inset - name.right - inset;
        if (c.number) put("tile_number", c.number, Math.min(h * 0.62, 40 * u), "accent", "midright", right - inset, cy, room, true);
        else put("tile_name", c.label_zh, Math.min(h * 0.44, 24 * u), labelColour, "midright", right - inset, cy, room, bold);
        return;
      }
      var full = put("tile_name", c.name, Math.min(h * 0.26, 30 * u), "text", "topleft", left + inset, top + inset, w * 0.6 - inset);
      if (data.show_english && w >= 250 * u)
        put("any", c.name_en, 18 * u, "muted", "midright", right - inset, full.centery, w * 0.4 - 2 * inset);
      var body = [left, full.bottom, w, top + h - full.bottom], bc = centre(body);
      if (c.number) {
        put("tile_number", c.number, Math.min(body[3] * 0.7, 64 * u), "accent", "center", bc[0], bc[1], w - 2 * inset, true);
        return;
      }
      var text = c.label_zh + (data.show_english && c.label_en && w >= 260 * u ? " " + c.label_en : "");
      put("tile_name", text, Math.min(body[3] * 0.4, 30 * u), labelColour, "center", bc[0], bc[1], w - 2 * inset, bold);
    });
  }
  function services(vm, u) {
    section(layout.sections.services, "services_header", u);
    vm.services.slice(0, layout.service_cells.length).forEach(function (s, i) {
      var cell = layout.service_cells[i], rh = cell[3], cy = cell[1] + Math.floor(rh / 2), right = cell[0] + cell[2];
      var side = Math.round(rh * 0.7);
      var badge = [cell[0], cy - Math.floor(side / 2), side, side];
      area(badge, (s.suspended ? "bg-muted" : "bg-accent") + " badge");
      var bc = centre(badge);
      put("any", s.prefix || "?", side * 0.6, "background", "center", bc[0], bc[1], 0, true);
      var rest = right - (badge[0] + side) - Math.round(10 * u), narrow = cell[2] < 520 * u;
      var nameW = rest * (narrow ? 0.33 : 0.38), x = badge[0] + side + Math.round(10 * u);
      var colour = s.suspended ? "muted" : "text";
      var english = !!(data.show_english && !narrow && s.name_en && s.name.indexOf(s.name_en) < 0 && rh * 0.26 >= 18 * u);
      var name = english ? put("service_name", s.name, rh * 0.42, colour, "bottomleft", x, cy + Math.round(rh * 0.08), nameW)
                         : put("service_name", s.name, rh * 0.42, colour, "midleft", x, cy, nameW);
      if (english) put("any", s.name_en, rh * 0.26, "muted", "topleft", x, name.bottom + 2, nameW);
      var from = x + nameW + Math.round(10 * u);
      if (s.suspended) {
        var label = s.label_zh + (data.show_english && !narrow ? "  " + s.label_en : "");
        put("est_wait", label, rh * 0.4, "warn", "midleft", from, cy, right - from, true);
        return;
      }
      var countW = rest * 0.24, share = narrow ? 0.95 : 0.65;
      var count = put("waiting", String(s.waiting), rh * 0.64, "accent", "midright", from + countW * share, cy, countW * share, true);
      if (!narrow) put("any", words("persons", "zh"), rh * 0.3, "muted", "midleft", count.right + Math.round(4 * u), cy + Math.round(rh * 0.08));
      var estX = from + countW + Math.round(8 * u), width = right - estX;
      if (data.show_english && s.est_en && width >= 260 * u && rh >= 88 * u) {
        var est = put("est_wait", s.est_zh, rh * 0.36, "text", "bottomright", right, cy + Math.round(rh * 0.04), width);
        put("any", s.est_en, rh * 0.22, "muted", "topright", right, est.bottom + 2, width);
      } else {
        put("est_wait", s.est_zh, rh * 0.4, "text", "midright", right, cy, width);
      }
    });
  }
  function calls(vm, u) {
    var rect = layout.sections.calls, top = layout.body_top.calls, pad = Math.round(12 * u);
    section(rect, "now_calling", u);
    var en = data.show_english;
    if (!vm.calls.length) {
      put("call_where", words("no_calls", "zh") + (en ? "  " + words("no_calls", "en") : ""), 48 * u, "muted", "center",
          rect[0] + Math.floor(rect[2] / 2), Math.floor((top + rect[1] + rect[3]) / 2), rect[2] - 2 * pad);
      return;
    }
    var most = Object.keys(layout.call_cards).length;
    var shown = vm.calls.slice(0, most);
    var unseen = Math.max(0, vm.calls.length - most);    // every live call without a card, flashing or not
    if (unseen)
      put("any", words("more_calls", "zh", { n: unseen }) + (en ? "  " + words("more_calls", "en", { n: unseen }) : ""),
          24 * u, "accent", "midright", rect[0] + rect[2] - pad, rect[1] + Math.round(26 * u), 0, true);
    var cards = layout.call_cards[String(shown.length)];
    shown.forEach(function (call, i) {
      var card = cards[i], inset = Math.round(10 * u), cx = card[0] + Math.floor(card[2] / 2);
      area(card, "bg-background card" + (call.flashing ? " flash" : ""));
      var english = en && card[3] >= 250 * u;
      // a recall's label gets a band of its own above the number (display/layout.py recall_band)
      var band = call.recall ? Math.round(Math.min(card[3] * 0.16, 56 * u)) : 0, bodyH = card[3] - band;
      var numberH = bodyH * (english ? 0.5 : 0.56);
      // large texts keep a tenth of their size clear on each side (display/render.py _call_card)
      var numberSize = Math.min(numberH * 0.92, 230 * u), side = Math.max(inset, Math.round(0.1 * numberSize));
      var number = put("call_number", call.number, numberSize, "accent" + (call.flashing ? " lit" : ""),
                       "midbottom", cx, card[1] + band + Math.round(numberH), card[2] - 2 * side, true);
      if (call.recall)
        put("recall", words("recall", "zh") + (en ? " " + words("recall", "en") : ""), band * 0.8, "text", "midtop",
            cx, card[1] + Math.round(band * 0.1), card[2] - 2 * inset, true);
      var whereH = card[3] * (english ? 0.26 : 0.34);
      var whereSize = Math.min(whereH * 0.8, 90 * u);
      var where = put("call_where", words("go_to", "zh", { counter: call.counter_name }), whereSize,
                      "text", "midtop", cx, number.bottom + Math.round(8 * u), card[2] - 2 * Math.max(inset, Math.round(0.1 * whereSize)), true);
      var below = where.bottom, small = Math.min(card[3] * 0.1, 34 * u);
      // a journey's call: "第2步/共3步 缴费", where the card has room at a readable size (display/render.py)
      if (call.step && small >= 20 * u && below + Math.round(6 * u) + small <= card[1] + card[3])
        below = put("call_step", call.step, small, "accent" + (call.flashing ? " lit" : ""), "midtop", cx,
                    below + Math.round(6 * u), card[2] - 2 * inset, true).bottom;
      if (english && below + small <= card[1] + card[3])
        put("any", words("call_line", "en", { number: call.number, counter: call.counter_name_en }),
            small, "muted" + (call.flashing ? " lit-muted" : ""), "midtop", cx, below + Math.round(6 * u), card[2] - 2 * inset);
    });
  }
  function ticker(vm, u) {
    var t = layout.ticker;
    if (!t) return;
    area([0, t[1], layout.width, layout.height - t[1]], "bg-ticker");
    if (!vm.notices.length) return;
    var strip = area(t, "ticker");
    var line = el("div", vm.notices.join("      ◆      "), "t c-text");
    line.dataset.kind = "ticker";
    line.style.fontSize = Math.floor(32 * u) + "px";
    strip.appendChild(line);
    var w = line.offsetWidth;
    line.style.top = Math.round((t[3] - line.offsetHeight) / 2) + "px";
    if (w <= t[2]) { line.style.left = Math.round((t[2] - w) / 2) + "px"; return; }
    // scrolls right to left at 140 design pixels a second, as the pygame screen's
    line.classList.add("scroll");
    line.style.setProperty("--from", t[2] + "px");
    line.style.setProperty("--to", -w + "px");
    line.style.animationDuration = ((t[2] + w) / (140 * u)).toFixed(1) + "s";
  }

  function draw(vm) {
    if (!vm || !layout) return;
    var u = layout.u;
    root.replaceChildren();
    header(vm, u);
    vm.banners.forEach(function (b, i) { if (layout.banners[i]) banner(b, layout.banners[i], u); });
    ticker(vm, u);
    if (vm.screen !== "open") { centreView(vm, u); return; }
    calls(vm, u);
    if (layout.sections.recent) recent(vm, u);
    counters(vm, u);
    services(vm, u);
  }
  function render(vm) {
    if (!vm) return;
    lastVm = vm;
    ensureLayout(vm);
    draw(vm);
    speak(vm.speech || []);
  }
  hallqFollow(data.stream, render);
})();
