// taskwire dashboard: live updates over server-sent events. When the stream
// says something changed, the page's #content is fetched again and swapped.
(function () {
  "use strict";
  var live = document.body.getAttribute("data-live");
  var status = document.getElementById("live-status");
  if (!live || !window.EventSource) { return; }
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(window.location.href, { headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("content");
        var old = document.getElementById("content");
        if (fresh && old) { old.replaceWith(fresh); }
        document.body.setAttribute("data-refreshed", String(Date.now()));
      })
      .catch(function () {})
      .then(function () { busy = false; if (again) { again = false; refresh(); } });
  }
  var source = new EventSource(live);
  source.addEventListener("ready", function () {
    if (status) { status.textContent = "live"; }
    document.body.setAttribute("data-connected", "yes");
    refresh();
  });
  source.addEventListener("change", refresh);
  source.addEventListener("failed", function (e) {
    if (status) { status.textContent = "logbook unreachable"; }
  });
  source.onerror = function () { if (status) { status.textContent = "reconnecting…"; } };
})();
