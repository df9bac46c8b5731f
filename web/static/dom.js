// The one helper the pages build their DOM with: hall texts only ever as textContent (never HTML).
"use strict";
function hallqEl(tag, text, cls) {
  var e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

// Follow a page's event stream: onData for each update, onLink(true|false) as it connects or
// drops. A stream the server refused (a busy hall: 429/503) or lost is opened again after 3 s,
// then twice as long each time up to a minute (with a little jitter), so a thousand phones never
// come back at the same instant; the first update resets the wait.
function hallqFollow(url, onData, onLink) {
  var source = null, delay = 3000;
  function connect() {
    if (source) source.close();
    source = new EventSource(url);
    source.onmessage = function (m) { delay = 3000; if (onLink) onLink(true); onData(JSON.parse(m.data)); };
    source.onerror = function () {
      if (onLink) onLink(false);
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(connect, delay + Math.random() * 1000);
        delay = Math.min(delay * 2, 60000);
      }
    };
  }
  connect();
  return {
    again: function () { if (!source || source.readyState === EventSource.CLOSED) connect(); }
  };
}
