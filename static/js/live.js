// Live panels: poll while the tab is visible, catch up at once when it returns.
// Each polled element's hx-trigger has "[document.visibilityState === 'visible']",
// so hidden tabs send nothing; this refreshes everything when the user comes back.
(function () {
  var hiddenSince = null;
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") {
      hiddenSince = Date.now();
    } else if (hiddenSince !== null && Date.now() - hiddenSince > 5000) {
      hiddenSince = null;
      htmx.trigger(document.body, "live-refresh");
    }
  });
  // Empty filters stay out of the request, and so out of the pushed, shareable URL.
  document.addEventListener("htmx:configRequest", function (event) {
    var params = event.detail.parameters;
    var names = typeof params.keys === "function" ? Array.from(params.keys()) : Object.keys(params);
    names.forEach(function (name) {
      var value = typeof params.get === "function" ? params.get(name) : params[name];
      if (value === "" || value === null) {
        if (typeof params.delete === "function") { params.delete(name); } else { delete params[name]; }
      }
    });
  });
  // Figures are drawn while the page is parsed, before the grid has its final
  // column widths; one resize after load fits each to its card.
  window.addEventListener("load", function () {
    document.querySelectorAll(".js-plotly-plot").forEach(function (el) { Plotly.Plots.resize(el); });
  });
  // Custom range inputs only matter when "custom" is picked; a preset clears them.
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (input.name === "range" && input.value !== "custom" && input.form) {
      input.form.querySelectorAll(".custom-range input").forEach(function (el) { el.value = ""; });
    }
  });
})();
