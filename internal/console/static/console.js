// Portico console: small enhancements. Every form also works without this
// script, by plain submission.
"use strict";

// Add and remove form rows in place instead of round-tripping to the server.
document.addEventListener("click", (event) => {
  const add = event.target.closest("[data-add]");
  if (add) {
    event.preventDefault();
    const rows = document.getElementById(add.dataset.add);
    const template = document.getElementById(add.dataset.add + "-template");
    rows.append(template.content.cloneNode(true));
    rows.lastElementChild.querySelector("input:not([type=hidden])").focus();
    return;
  }
  const remove = event.target.closest("[data-remove]");
  if (remove) {
    event.preventDefault();
    const row = remove.closest(".row");
    const rows = row.parentElement;
    row.remove();
    if (!rows.querySelector(".row")) {
      rows.append(document.getElementById(rows.id + "-template").content.cloneNode(true));
    }
    return;
  }
  const copy = event.target.closest("[data-copy]");
  if (copy && navigator.clipboard) {
    navigator.clipboard.writeText(copy.dataset.copy).then(() => {
      copy.textContent = "Copied";
      setTimeout(() => { copy.textContent = "Copy"; }, 2000);
    });
  }
});

// Ask before destructive actions.
document.addEventListener("submit", (event) => {
  const message = event.target.dataset.confirm;
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});

// Show settings only when the choice they belong to is made:
// data-show-when="name=value1|value2".
function syncShown() {
  for (const el of document.querySelectorAll("[data-show-when]")) {
    const [name, values] = el.dataset.showWhen.split("=");
    const control = el.closest("form").elements[name];
    el.hidden = !control || !values.split("|").includes(control.value);
  }
}
document.addEventListener("change", syncShown);

document.addEventListener("DOMContentLoaded", () => {
  syncShown();
  if (navigator.clipboard) {
    for (const el of document.querySelectorAll("[data-copy]")) {
      el.hidden = false;
    }
  }
});
