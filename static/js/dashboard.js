// Dashboards: draw the charts from the page's JSON; a click on a bar or slice opens the
// list of the cases behind it (each data point carries its drill-down URL).
(function () {
  var holder = document.getElementById("dash-data");
  if (!holder || typeof echarts === "undefined") return;
  var data = JSON.parse(holder.textContent);
  var charts = [];

  function chart(id, option) {
    var el = document.getElementById(id);
    if (!el) return;
    var c = echarts.init(el);
    c.setOption(option);
    c.on("click", function (p) { if (p.data && p.data.url) window.location.href = p.data.url; });
    charts.push(c);
  }
  function empty(text) {
    return { title: { text: text, left: "center", top: "middle", textStyle: { color: "#66788a", fontSize: 14, fontWeight: "normal" } } };
  }

  chart("chart-volume", {
    tooltip: { trigger: "axis" },
    grid: { left: 48, right: 16, top: 20, bottom: 40 },
    xAxis: { type: "category", data: data.volume.map(function (d) { return d.label; }) },
    yAxis: { type: "value", minInterval: 1 },
    series: [{ name: "留言工单", type: "bar", itemStyle: { color: "#1d5fbf" }, cursor: "pointer",
      data: data.volume.map(function (d) { return { value: d.value, url: d.url }; }) }]
  });

  var topics = data.topics.slice(0, 12);
  chart("chart-topics", topics.length ? {
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    grid: { left: 110, right: 30, top: 10, bottom: 24 },
    xAxis: { type: "value", minInterval: 1 },
    yAxis: { type: "category", inverse: true, data: topics.map(function (d) { return d.name; }) },
    series: [{ name: "工单", type: "bar", itemStyle: { color: "#b71c1c" }, label: { show: true, position: "right" },
      data: topics.map(function (d) { return { value: d.value, url: d.url }; }) }]
  } : empty("本期没有工单"));

  var colours = { negative: "#c0392b", neutral: "#8795a1", positive: "#1e7b45", "-": "#d5dbe1" };
  chart("chart-sentiments", data.sentiments.length ? {
    tooltip: { trigger: "item", formatter: "{b}：{c} 件（{d}%）" },
    legend: { bottom: 0 },
    series: [{ name: "情感", type: "pie", radius: ["40%", "68%"], center: ["50%", "45%"],
      label: { formatter: "{b}\n{c} 件" },
      data: data.sentiments.map(function (d) {
        return { name: d.name, value: d.value, url: d.url, itemStyle: { color: colours[d.key] || "#1d5fbf" } };
      }) }]
  } : empty("本期没有工单"));

  var units = data.units;
  chart("chart-units", {
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, formatter: function (ps) {
      var u = units[ps[0].dataIndex];
      return u.name + "<br>按期答复 " + u.on_time + " / 答复 " + u.answered + "<br>超期未办结 " + u.overdue;
    } },
    grid: { left: 130, right: 50, top: 10, bottom: 24 },
    xAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
    yAxis: { type: "category", inverse: true, data: units.map(function (u) { return u.name; }) },
    series: [{ name: "按期办结率", type: "bar", itemStyle: { color: "#1e7b45" },
      label: { show: true, position: "right", formatter: function (p) { return p.value === null ? "—" : p.value + "%"; } },
      data: units.map(function (u) {
        return { value: u.rate === null ? null : Math.round(u.rate * 1000) / 10, url: u.on_time_url };
      }) }]
  });

  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
})();
