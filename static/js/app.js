// Small behaviours shared by every page. No inline handlers: the CSP forbids them.
(function () {
  "use strict";
  document.querySelectorAll("select.autosubmit").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  // Confirmation in the page's own dialog (the browser's confirm() cannot be styled, blocks
  // the page and is suppressed by some browsers): a form.confirm always asks; a form with
  // data-live-accounts asks when the chosen account trades real money.
  var dialog = document.getElementById("confirm-dialog");

  function question(form) {
    if (form.classList.contains("confirm")) { return form.dataset.confirm || "Are you sure?"; }
    var account = form.querySelector("select[name=account]");
    var live = (form.dataset.liveAccounts || "").split(",").filter(Boolean);
    return account && live.indexOf(account.value) >= 0 ? form.dataset.confirmLive : null;
  }

  function askThenSubmit(form, submitter, text) {
    dialog.querySelector("[data-confirm-text]").textContent = text;
    dialog.returnValue = "";
    dialog.addEventListener("close", function answered() {
      dialog.removeEventListener("close", answered);
      if (dialog.returnValue !== "ok") { return; }
      form.dataset.confirmed = "yes";
      if (submitter) { form.requestSubmit(submitter); } else { form.requestSubmit(); }
    });
    dialog.showModal();
    dialog.querySelector("#confirm-dialog-cancel").focus();  // Enter never confirms by itself
  }

  document.querySelectorAll("form.confirm, form[data-live-accounts]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.confirmed === "yes") { delete form.dataset.confirmed; return; }
      var text = question(form);
      if (!text) { return; }
      event.preventDefault();
      if (dialog && typeof dialog.showModal === "function") {
        askThenSubmit(form, event.submitter, text);
      } else if (window.confirm(text)) {  // a browser without <dialog>
        form.dataset.confirmed = "yes";
        form.requestSubmit();
      }
    });
  });
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var target = document.getElementById(button.dataset.copy);
      if (target && navigator.clipboard) {
        navigator.clipboard.writeText(target.textContent.trim()).then(function () {
          button.textContent = "Copied";
        });
      }
    });
  });
})();
