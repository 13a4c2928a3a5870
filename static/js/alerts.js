// Escalation and 会商 clock alerts: poll the feed and show a toast, without a reload.
(function () {
  "use strict";
  var box = document.getElementById("alert-toasts");
  if (!box || !window.fetch) return;
  var after = parseInt(box.dataset.after || "0", 10);
  var every = parseInt(box.dataset.pollMs || "5000", 10);

  function toast(alert) {
    var el = document.createElement("div");
    el.className = "alert-toast alert-" + alert.kind;
    el.setAttribute("role", "alert");
    el.dataset.alertId = alert.id;
    var title = document.createElement("a");
    title.href = alert.url || "#";
    title.className = "alert-title";
    title.textContent = "【" + alert.kind_label + "】" + alert.title;
    var body = document.createElement("div");
    body.className = "alert-body";
    body.textContent = alert.body;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "link alert-close";
    close.setAttribute("aria-label", "关闭");
    close.textContent = "×";
    close.addEventListener("click", function () { el.remove(); });
    el.appendChild(close); el.appendChild(title); el.appendChild(body);
    box.appendChild(el);
    while (box.children.length > 4) box.removeChild(box.firstChild);
  }

  function poll() {
    fetch(box.dataset.feed + "?after=" + after, {
      headers: { Accept: "application/json" }, credentials: "same-origin"
    })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        after = Math.max(after, data.max_id || 0);
        (data.alerts || []).forEach(toast);
      })
      .catch(function () { /* offline for a moment: try again next tick */ });
  }
  setInterval(poll, every);
})();
