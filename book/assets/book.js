/* Plotly figures follow the book's light/dark theme (sphinx-book-theme sets html[data-theme]).
   A figure's own colours are kept and restored when the reader switches back to light. */
(function () {
  "use strict";
  var DARK = {paper: "rgba(0,0,0,0)", plot: "#1b1f24", font: "#ced6dd", grid: "#3a4149", line: "#6c757d"};

  function isDark() {
    return document.documentElement.getAttribute("data-theme") === "dark";
  }

  function axes(layout) {
    return Object.keys(layout || {}).filter(function (k) { return /^[xy]axis\d*$/.test(k); });
  }

  function follow(gd) {
    if (!window.Plotly || !gd.layout || !gd._fullLayout) return;
    var full = gd._fullLayout;
    if (!gd.__dmeLight) {  // the figure's own (light) colours, remembered once
      var light = {"paper_bgcolor": full.paper_bgcolor, "plot_bgcolor": full.plot_bgcolor, "font.color": full.font.color};
      axes(full).forEach(function (a) {
        light[a + ".gridcolor"] = full[a].gridcolor;
        light[a + ".linecolor"] = full[a].linecolor;
        light[a + ".zerolinecolor"] = full[a].zerolinecolor;
      });
      if (full.legend) light["legend.bgcolor"] = full.legend.bgcolor;
      gd.__dmeLight = light;
    }
    var update = {};
    if (isDark()) {
      update = {"paper_bgcolor": DARK.paper, "plot_bgcolor": DARK.plot, "font.color": DARK.font,
                "legend.bgcolor": "rgba(0,0,0,0)"};
      axes(full).forEach(function (a) {
        update[a + ".gridcolor"] = DARK.grid;
        update[a + ".linecolor"] = DARK.line;
        update[a + ".zerolinecolor"] = DARK.line;
      });
    } else {
      update = gd.__dmeLight;
    }
    window.Plotly.relayout(gd, update);
  }

  function followAll() {
    document.querySelectorAll(".js-plotly-plot").forEach(follow);
  }

  function start() {
    new MutationObserver(followAll).observe(document.documentElement, {attributes: true, attributeFilter: ["data-theme"]});
    if (isDark()) {  // figures drawn after load (Plotly.newPlot is async) follow once they exist
      var tries = 0, timer = setInterval(function () {
        followAll();
        if (++tries > 20 || document.querySelectorAll(".plotly-graph-div:not(.js-plotly-plot)").length === 0) clearInterval(timer);
      }, 250);
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
