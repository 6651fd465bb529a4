// taskbox dashboard: the one script (CSP allows no inline script).
// A table marked data-refresh="<url>" is refreshed from that URL every
// few seconds while the page is open (the runs page: live). A textarea
// marked data-json is checked before its form is sent: empty, or JSON.
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

(function () {
  "use strict";
  document.querySelectorAll("textarea[data-json]").forEach(function (field) {
    var form = field.form;
    var say = form.querySelector("[data-json-error]");
    form.addEventListener("submit", function (event) {
      var text = field.value.trim();
      var problem = "";
      if (text !== "") {
        try { JSON.parse(text); } catch (e) { problem = "Not JSON: " + e.message; }
      }
      field.setAttribute("aria-invalid", problem ? "true" : "false");
      if (say) say.textContent = problem;
      if (problem) { event.preventDefault(); field.focus(); }
    });
  });
})();
