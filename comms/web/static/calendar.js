// comms: drag a post to another day in the month or week view. It only fills in the move form
// below the calendar (its CSRF token included) and sends it, so the server checks and does the
// move as when a person uses the form, which keeps working without this script and by keyboard.
"use strict";
(function () {
  const form = document.getElementById("move-form");
  if (!form) return;
  const select = form.querySelector("select[name=post_id]");
  const dateField = form.querySelector("input[name=date]");
  const timeField = form.querySelector("input[name=time]");
  const hint = document.getElementById("drag-hint");
  if (hint) hint.hidden = false;
  let dragged = null;

  document.querySelectorAll("a.entry[data-move]").forEach((entry) => {
    entry.addEventListener("dragstart", (event) => {
      dragged = entry;
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", entry.dataset.move);
      entry.classList.add("dragging");
    });
    entry.addEventListener("dragend", () => {
      entry.classList.remove("dragging");
      dragged = null;
    });
  });

  document.querySelectorAll("td[data-date]").forEach((cell) => {
    cell.addEventListener("dragover", (event) => {
      if (!dragged) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      cell.classList.add("drop-target");
    });
    cell.addEventListener("dragleave", () => cell.classList.remove("drop-target"));
    cell.addEventListener("drop", (event) => {
      event.preventDefault();
      cell.classList.remove("drop-target");
      if (!dragged || dragged.closest("td") === cell) return;
      select.value = dragged.dataset.move;
      if (select.value !== dragged.dataset.move) return; // not one the form may move
      dateField.value = cell.dataset.date;
      timeField.value = dragged.dataset.time;
      form.requestSubmit();
    });
  });
})();
