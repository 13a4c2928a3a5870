// sentinel: small progressive enhancements, no framework, nothing from a CDN.
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]');
  csrf = csrf ? csrf.content : "";

  // ---- Triage queue: live feed, selection, keyboard shortcuts -------------------------
  var queue = document.getElementById("queue");
  if (queue) {
    var body = document.getElementById("queue-body");
    var banner = document.getElementById("live-banner");
    var pending = [];
    var maxId = parseInt(queue.dataset.maxId || "0", 10);
    var firstPage = !/[?&]page=([2-9]|\d\d)/.test(location.search);

    function poll() {
      var url = queue.dataset.feed + (queue.dataset.feed.indexOf("?") < 0 ? "?" : "&") + "after=" + maxId;
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data || !data.count) return;
          maxId = Math.max(maxId, data.max_id);
          pending.push(data.html);
          var n = (banner.dataset.n ? parseInt(banner.dataset.n, 10) : 0) + data.count;
          banner.dataset.n = n;
          document.getElementById("live-count").textContent = n;
          banner.hidden = false;
          document.title = "(" + n + ") " + document.title.replace(/^\(\d+\) /, "");
        })
        .catch(function () { /* offline for a moment: try again next tick */ });
    }
    function showPending() {
      pending.reverse().forEach(function (html) { body.insertAdjacentHTML("afterbegin", html); });
      pending = [];
      banner.hidden = true; banner.dataset.n = 0;
      document.title = document.title.replace(/^\(\d+\) /, "");
      var empty = document.querySelector(".empty"); if (empty) empty.remove();
    }
    document.getElementById("live-show").addEventListener("click", showPending);
    if (firstPage) setInterval(poll, 5000);

    var current = -1;
    function rows() { return Array.prototype.slice.call(body.querySelectorAll("tr.case-row")); }
    function select(i) {
      var all = rows(); if (!all.length) return;
      current = Math.max(0, Math.min(i, all.length - 1));
      all.forEach(function (r, j) { r.classList.toggle("current", j === current); });
      all[current].scrollIntoView({ block: "nearest" });
    }
    function row() { return rows()[current]; }
    function postTo(url) {
      var form = document.getElementById("claim-form");
      form.action = url; form.submit();
    }
    function openDialog(id, url, label) {
      var dialog = document.getElementById(id);
      dialog.querySelector("form").action = url;
      dialog.querySelector("h2 span").textContent = label;
      dialog.showModal();
      var first = dialog.querySelector("select, input:not([type=hidden])"); if (first) first.focus();
    }
    document.querySelectorAll("dialog [data-close]").forEach(function (b) {
      b.addEventListener("click", function () { b.closest("dialog").close(); });
    });
    var all = document.getElementById("select-all");
    if (all) all.addEventListener("change", function () {
      rows().forEach(function (r) { r.querySelector("input[type=checkbox]").checked = all.checked; });
    });
    document.addEventListener("keydown", function (e) {
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      var tag = (e.target.tagName || "").toLowerCase();
      if (tag === "input" || tag === "select" || tag === "textarea" || tag === "button" || document.querySelector("dialog[open]")) return;
      var r = row();
      switch (e.key) {
        case "j": select(current + 1); break;
        case "k": select(current - 1); break;
        case "x": if (r) { var c = r.querySelector("input[type=checkbox]"); if (c) c.checked = !c.checked; } break;
        case "Enter": if (r) location.href = r.dataset.url; break;
        case "c": if (r) postTo(r.dataset.claimUrl); break;
        case "d": if (r) openDialog("dispatch-dialog", r.dataset.dispatchUrl, "#" + r.dataset.caseId); break;
        case "m": if (r) openDialog("merge-dialog", r.dataset.mergeUrl, "#" + r.dataset.caseId); break;
        default: return;
      }
      e.preventDefault();
    });
    body.addEventListener("click", function (e) {
      var tr = e.target.closest("tr.case-row");
      if (tr && e.target.tagName !== "A" && e.target.tagName !== "INPUT") select(rows().indexOf(tr));
    });
  }

  // ---- Import progress ----------------------------------------------------------------
  // Polls while the batch is queued or running and stops for good once it is done or
  // failed; the interval grows while nothing changes, so an idle page does not poll
  // every second for ever.
  var progress = document.getElementById("import-progress");
  if (progress) {
    var bar = progress.querySelector(".progress-bar");
    var errorsBody = document.querySelector("#import-errors tbody");
    var delay = 1000, lastProcessed = -1;
    function later() { setTimeout(refresh, delay); delay = Math.min(delay * 1.5, 15000); }
    function refresh() {
      fetch(progress.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (s) {
          bar.style.width = s.percent + "%";
          progress.querySelector(".progress").setAttribute("aria-valuenow", s.percent);
          ["status_label", "processed", "total", "ok", "duplicates", "errors", "failure"].forEach(function (k) {
            var el = progress.querySelector('[data-field="' + k + '"]'); if (el) el.textContent = s[k] == null ? "" : s[k];
          });
          if (s.error_rows.length) {
            errorsBody.innerHTML = "";
            s.error_rows.forEach(function (er) {
              var tr = document.createElement("tr");
              var a = document.createElement("td"); a.textContent = er.row || "—";
              var b = document.createElement("td"); b.textContent = er.message;
              tr.appendChild(a); tr.appendChild(b); errorsBody.appendChild(tr);
            });
          }
          progress.dataset.status = s.stalled ? "stalled" : s.status;
          if (s.status === "done" || s.status === "failed" || s.stalled) {
            progress.querySelector(".done-note").hidden = s.status !== "done";
            progress.querySelector(".failed-note").hidden = s.status === "done";
            return;
          }
          if (s.processed !== lastProcessed) { lastProcessed = s.processed; delay = 1000; }
          later();
        })
        .catch(later);
    }
    if (["done", "failed", "stalled"].indexOf(progress.dataset.status) < 0) refresh();
  }
})();
