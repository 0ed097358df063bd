// The automation pages: add and remove a working-hours span, add and remove a score of a
// survey's scale, in the page itself. Without JavaScript the same buttons submit the form,
// and the server sends it back with the span or score added or removed (nothing saved).
(function () {
  "use strict";

  function spanRow(day) {
    var row = document.createElement("div");
    row.className = "schedule-span";
    row.setAttribute("data-span", "");
    var first = document.querySelector("[data-span] input[name^=start_]");
    var remove = document.querySelector("[data-span-remove]");
    ["start_", "end_"].forEach(function (prefix, i) {
      var input = document.createElement("input");
      input.type = "time";
      input.name = prefix + day;
      var model = first && first.closest("[data-span]").querySelectorAll("input")[i];
      if (model) input.setAttribute("aria-label", model.getAttribute("aria-label") || "");
      row.appendChild(input);
      if (i === 0) {
        var dash = document.createElement("span");
        dash.className = "muted";
        dash.textContent = "–";
        row.appendChild(dash);
      }
    });
    var button = document.createElement("button");
    button.type = "button";
    button.className = "link remove";
    button.setAttribute("data-span-remove", "");
    button.textContent = "×";
    if (remove) {
      button.title = remove.title;
      button.setAttribute("aria-label", remove.getAttribute("aria-label") || "");
    }
    row.appendChild(button);
    return row;
  }

  function setOpen(dayBox, open) {
    var box = dayBox.querySelector("[data-day-open]");
    if (box) box.checked = open;
    dayBox.classList.toggle("closed", !open);
  }

  document.addEventListener("click", function (e) {
    var add = e.target.closest("[data-span-add]");
    if (add) {
      e.preventDefault();
      var day = add.closest("[data-day]");
      var row = spanRow(day.getAttribute("data-day"));
      add.parentNode.insertBefore(row, add);
      setOpen(day, true);
      row.querySelector("input").focus();
      return;
    }
    var remove = e.target.closest("[data-span-remove]");
    if (remove) {
      e.preventDefault();
      var box = remove.closest("[data-day]");
      remove.closest("[data-span]").remove();
      if (!box.querySelector("[data-span]")) setOpen(box, false);
      return;
    }
    var addScore = e.target.closest("[data-score-add]");
    if (addScore) {
      e.preventDefault();
      var rows = document.querySelector("[data-scale-rows]");
      var last = rows && rows.querySelector("[data-score]:last-of-type");
      if (!last) return;
      var copy = last.cloneNode(true);
      copy.querySelectorAll("input").forEach(function (input) { input.value = ""; });
      copy.querySelectorAll("select").forEach(function (select) { select.selectedIndex = 0; });
      rows.appendChild(copy);
      copy.querySelector("input").focus();
      return;
    }
    var removeScore = e.target.closest("[data-score-remove]");
    if (removeScore) {
      e.preventDefault();
      var all = document.querySelectorAll("[data-score]");
      var mine = removeScore.closest("[data-score]");
      if (all.length > 1) mine.remove();
      else mine.querySelectorAll("input").forEach(function (input) { input.value = ""; });
    }
  });

  document.addEventListener("change", function (e) {
    var box = e.target.closest && e.target.closest("[data-day-open]");
    if (box) box.closest("[data-day]").classList.toggle("closed", !box.checked);
  });
})();
