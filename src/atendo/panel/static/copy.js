/* "Copy" buttons: data-copy names the element whose text is copied; data-done is shown after. */
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("button[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    var label = button.textContent;
    navigator.clipboard.writeText(source.textContent).then(function () {
      button.textContent = button.getAttribute("data-done") || label;
      setTimeout(function () { button.textContent = label; }, 2000);
    });
  });
})();
