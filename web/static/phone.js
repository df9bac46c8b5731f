// A customer's ticket page: follows its own ticket by Server-Sent Events; buzzes when called.
"use strict";
(function () {
  var data = JSON.parse(document.getElementById("data").textContent);
  var last = null;
  function $(id) { return document.getElementById(id); }
  function notify(doc) {
    if (navigator.vibrate) navigator.vibrate([400, 150, 400, 150, 400]);
    if (window.Notification && Notification.permission === "granted" && document.hidden) {
      try { new Notification(doc.number + " " + doc.headline); } catch (e) { /* not allowed here */ }
    }
  }
  function show(doc) {
    if (!doc || !doc.number) return;
    $("number").textContent = doc.number;
    $("service").textContent = doc.service;
    $("journey").textContent = doc.journey || "";
    $("journey").hidden = !doc.journey;
    $("arrival").textContent = doc.arrival || "";
    $("arrival").hidden = !doc.arrival;
    if (doc.headline !== $("headline").textContent) $("headline").textContent = doc.headline;
    $("notice").textContent = doc.notice || "";
    $("notice").hidden = !doc.notice;
    $("detail").textContent = doc.detail;
    document.body.className = "status-" + doc.status + (doc.alert ? " alert" : "");
    if (doc.alert && last && !(last.alert && last.status === doc.status)) notify(doc);
    last = doc;
  }
  var stream = null;
  // a phone that slept may have dropped the connection: open it again when the page is seen
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && stream) stream.again();
  });
  document.addEventListener("click", function () {
    if (window.Notification && Notification.permission === "default") Notification.requestPermission();
  }, { once: true });
  show(data.first);
  stream = hallqFollow(data.stream, show, function (up) { $("offline").hidden = up; });
})();
