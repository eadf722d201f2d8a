// Dashboard behaviour, with no eval: the page's CSP has no 'unsafe-eval', so
// htmx runs with allowEval off and nothing here builds code from strings.
(function () {
  // Live panels ([data-live]) poll on a timer; a hidden tab sends nothing.
  // htmx keeps the timer running, so cancelling the request is enough, and the
  // tab catches up at once when it is shown again.
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (document.hidden && event.detail.elt.hasAttribute("data-live")) {
      event.preventDefault();
    }
  });
  var hiddenSince = null;
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
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

  // Custom range inputs only matter when "custom" is picked; a preset clears them.
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (input.name === "range" && input.value !== "custom" && input.form) {
      input.form.querySelectorAll(".custom-range input").forEach(function (el) { el.value = ""; });
    }
  });

  // A table wider than its card scrolls sideways; say so, and fade the cut edge
  // until the end is reached (phones cannot see a scrollbar until they scroll).
  function markScrollable(wrap) {
    var overflow = wrap.scrollWidth - wrap.clientWidth;
    wrap.classList.toggle("is-scrollable", overflow > 1);
    wrap.classList.toggle("at-end", overflow <= 1 || wrap.scrollLeft >= overflow - 1);
  }
  function markAll(root) {
    (root.querySelectorAll ? root : document).querySelectorAll(".table-wrap").forEach(markScrollable);
    if (root.classList && root.classList.contains("table-wrap")) { markScrollable(root); }
  }
  document.addEventListener("scroll", function (event) {
    if (event.target.classList && event.target.classList.contains("table-wrap")) {
      markScrollable(event.target);
    }
  }, true);
  window.addEventListener("resize", function () { markAll(document); });

  // Figures are drawn while the page is parsed, before the grid has its final
  // column widths; one resize after load fits each to its card.
  window.addEventListener("load", function () {
    document.querySelectorAll(".js-plotly-plot").forEach(function (el) { Plotly.Plots.resize(el); });
    markAll(document);
  });
  htmx.onLoad(markAll);
})();
