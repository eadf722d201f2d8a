// Draw every server-built Plotly figure: <div data-figure="id-of-json-script">.
// Runs on load and after each HTMX swap, so refreshed partials redraw.
(function () {
  function draw(root) {
    root.querySelectorAll("[data-figure]").forEach(function (el) {
      var source = document.getElementById(el.dataset.figure);
      if (!source || !window.Plotly) return;
      var fig = JSON.parse(source.textContent);
      Plotly.react(el, fig.data, fig.layout, {displayModeBar: false, responsive: true});
    });
  }
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSwap", function (e) { draw(e.target); });
})();
