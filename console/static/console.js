// Live updates for the console: one Server-Sent Events stream per page.
// On the queue, any message makes the page fetch the queue again (a short debounce gathers
// bursts) and put it in place only if it differs from what is shown: rows replaced for
// nothing would swallow a click that lands while they change (and the refresh made on
// connecting nearly always brings the very queue the page was served with).
// On an alert's page, a message about that alert shows a "changed" notice.
// EventSource reconnects by itself; if the server refused the stream (the session ended),
// the page tries again later and a fetch answered 401 takes the person to the login page.
(function () {
  "use strict";
  var indicator = document.getElementById("live");
  var queue = document.getElementById("queue");
  var alertPanel = document.querySelector("[data-alert-id]:not(tr)");
  var pending = null;
  var shown = queue ? queue.innerHTML.trim() : null;  // as parsed, to compare like with like

  function show(state, text) {
    if (indicator) { indicator.dataset.state = state; indicator.textContent = text; }
  }

  function refreshQueue() {
    if (!queue) { return; }
    var before = {};
    queue.querySelectorAll("tr[data-alert-id]").forEach(function (row) { before[row.dataset.alertId] = true; });
    fetch(queue.dataset.fragment, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        if (response.status === 401) { window.location.assign("/login"); return null; }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html === null) { return; }
        var fresh = document.createElement("div");
        fresh.innerHTML = html;
        if (fresh.innerHTML.trim() === shown) { return; }
        shown = fresh.innerHTML.trim();
        queue.innerHTML = html;
        queue.querySelectorAll("tr[data-alert-id]").forEach(function (row) {
          if (!before[row.dataset.alertId]) { row.classList.add("flash"); }
        });
      })
      .catch(function () { show("reconnecting", "reconnecting…"); });
  }

  function changed(event) {
    var message = JSON.parse(event.data);
    if (alertPanel && message.alert_id === alertPanel.dataset.alertId) {
      document.getElementById("changed").hidden = false;
    }
    if (queue && pending === null) {
      pending = window.setTimeout(function () { pending = null; refreshQueue(); }, 200);
    }
  }

  function connect() {
    var source = new EventSource("/events");
    source.onopen = function () { show("live", "live"); refreshQueue(); };
    source.addEventListener("alert", changed);
    source.addEventListener("action", changed);
    source.onerror = function () {
      show("reconnecting", "reconnecting…");
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        window.setTimeout(connect, 3000);
      }
    };
  }

  if (indicator) { connect(); }
})();
