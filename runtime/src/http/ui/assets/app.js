// taskbox dashboard: the one script (CSP allows no inline script).
// A table marked data-refresh="<url>" is refreshed from that URL every
// few seconds while the page is open (the runs page: live).
(function () {
  "use strict";
  var table = document.querySelector("[data-refresh]");
  if (!table) return;
  var every = 3000;
  function refresh() {
    fetch(table.getAttribute("data-refresh"), { credentials: "same-origin", headers: { "x-requested-with": "taskbox-ui" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var body = table.querySelector("tbody");
        var next = document.createElement("tbody");
        next.innerHTML = html;
        body.replaceWith(next);
        table.setAttribute("data-refreshed", String(Date.now()));
      })
      .catch(function () {})
      .finally(function () { setTimeout(refresh, every); });
  }
  setTimeout(refresh, every);
})();
