// The leaders' board: refresh its body from JSON and draw the heat curves (ECharts).
(function () {
  "use strict";
  var board = document.getElementById("board");
  if (!board) return;
  var chartEl = document.getElementById("heat-chart");
  var chart = (window.echarts && chartEl) ? window.echarts.init(chartEl) : null;

  function draw(curves) {
    if (!chart) return;
    var series = (curves && curves.series) || [];
    // One shared time axis; each series is aligned on it (gaps stay empty).
    var times = {};
    series.forEach(function (s) { s.points.forEach(function (p) { times[p[0]] = true; }); });
    var axis = Object.keys(times).sort();
    chart.setOption({
      tooltip: { trigger: "axis" },
      legend: { type: "scroll", top: 0 },
      grid: { left: 48, right: 24, top: 40, bottom: 36 },
      xAxis: { type: "category", boundaryGap: false, data: axis },
      yAxis: { type: "value", name: "热度" },
      series: series.map(function (s) {
        var byTime = {};
        s.points.forEach(function (p) { byTime[p[0]] = p[1]; });
        return { name: s.name, type: "line", smooth: true, connectNulls: true, showSymbol: axis.length < 30,
          data: axis.map(function (t) { return t in byTime ? byTime[t] : null; }) };
      })
    }, true);
  }
  if (chart) {
    chart.on("click", function (params) {
      var curves = JSON.parse(document.getElementById("board-curves").textContent || "{}");
      var s = (curves.series || [])[params.seriesIndex];
      var row = s && document.querySelector("tr[data-event-id='" + s.event_id + "'] a");
      if (row) location.href = row.href;
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  draw(JSON.parse(document.getElementById("board-curves").textContent || "{}"));

  function refresh() {
    fetch(board.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        board.innerHTML = data.html;
        document.getElementById("board-curves").textContent = JSON.stringify(data.curves);
        document.getElementById("board-updated").textContent = data.generated_at;
        draw(data.curves);
      })
      .catch(function () { /* try again next tick */ });
  }
  setInterval(refresh, parseInt(board.dataset.refreshMs || "30000", 10));
})();
