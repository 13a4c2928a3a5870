// Event pages: the heat curve (ECharts, served from static/vendor) and a refresh of heat
// and escalation level without reloading the page.
(function () {
  "use strict";
  var REFRESH_MS = 60000;

  function fmt(iso) {
    var d = new Date(iso);
    return d.toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false });
  }

  var chartEl = document.getElementById("heat-chart");
  if (chartEl && window.echarts) {
    var chart = window.echarts.init(chartEl);
    var draw = function () {
      fetch(chartEl.dataset.src, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          chart.setOption({
            tooltip: { trigger: "axis" },
            legend: { data: ["热度", "24小时留言"] },
            xAxis: { type: "category", data: data.curve.map(function (p) { return fmt(p.at); }) },
            yAxis: [{ type: "value", name: "热度" }, { type: "value", name: "条" }],
            series: [
              { name: "热度", type: "line", smooth: true, data: data.curve.map(function (p) { return p.heat; }) },
              { name: "24小时留言", type: "bar", yAxisIndex: 1, data: data.curve.map(function (p) { return p.volume_24h; }) }
            ]
          });
          var heat = document.getElementById("event-heat");
          if (heat) { heat.textContent = data.event.heat.toFixed(1); }
          var level = document.getElementById("event-level");
          if (level && data.event.escalated_level) {
            var labels = { 1: "一般", 2: "较大", 3: "重大" };
            level.innerHTML = "";
            var b = document.createElement("span");
            b.className = "badge urgent";
            b.textContent = "已升级：" + labels[data.event.escalated_level];
            level.appendChild(b);
          }
        });
    };
    draw();
    window.setInterval(draw, REFRESH_MS);
    window.addEventListener("resize", function () { chart.resize(); });
  }

  var list = document.getElementById("event-list");
  if (list) {
    window.setInterval(function () {
      fetch(list.dataset.feed, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          data.events.forEach(function (e) {
            var row = list.querySelector('tr[data-event-id="' + e.id + '"]');
            if (!row) { return; }
            row.querySelector(".heat b").textContent = e.heat.toFixed(1);
          });
        });
    }, REFRESH_MS);
  }
})();
