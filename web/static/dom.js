// The one helper the pages build their DOM with: hall texts only ever as textContent (never HTML).
"use strict";
function hallqEl(tag, text, cls) {
  var e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
