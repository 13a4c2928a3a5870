// Report progress: poll the status JSON until the file is ready or failed.
(function () {
  var box = document.getElementById("report-progress");
  if (!box) return;
  var url = box.getAttribute("data-status-url");
  function field(name) { return box.querySelector('[data-field="' + name + '"]'); }
  function poll() {
    var status = box.getAttribute("data-status");
    if (status === "ready" || status === "failed") return;
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        box.setAttribute("data-status", data.status);
        field("status_label").textContent = data.status_label;
        field("progress").textContent = data.progress;
        box.querySelector(".progress-bar").style.width = data.progress + "%";
        if (data.ready) box.querySelector(".done-note").hidden = false;
        if (data.status === "failed") {
          field("error").textContent = data.error || "生成失败";
          field("error").hidden = false;
        }
        setTimeout(poll, 1500);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 1000);
})();
