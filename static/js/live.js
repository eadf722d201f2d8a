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
  // Custom range inputs only matter when "custom" is picked; a preset clears them.
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (input.name === "range" && input.value !== "custom" && input.form) {
      input.form.querySelectorAll(".custom-range input").forEach(function (el) { el.value = ""; });
    }
  });
})();
