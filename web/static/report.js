// The report page's print button (no inline script: the CSP forbids it).
"use strict";
(function () {
  var button = document.getElementById("print");
  if (button) button.addEventListener("click", function () { window.print(); });
})();
