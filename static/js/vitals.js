// Vitals: the only first-party script. No inline <script> or on* attributes anywhere,
// so a strict Content-Security-Policy can forbid them.
"use strict";

(function () {
  // htmx does not swap error responses, so without this a failed request looks like
  // nothing happened. Show a dismissible Bootstrap alert instead.
  function showError(text) {
    var region = document.getElementById("vitals-alerts");
    if (!region) {
      return;
    }
    var alert = document.createElement("div");
    alert.className = "alert alert-danger alert-dismissible fade show";
    alert.setAttribute("role", "alert");
    alert.textContent = text;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close";
    close.setAttribute("data-bs-dismiss", "alert");
    close.setAttribute("aria-label", "Close");
    alert.appendChild(close);
    region.appendChild(alert);
  }

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (status === 403) {
      showError("You don't have permission to do that.");
    } else if (status === 404) {
      showError("Not found.");
    } else {
      showError("Something went wrong (" + status + "). Please try again.");
    }
  });

  document.addEventListener("htmx:sendError", function () {
    showError("Could not reach Vitals. Check your connection and try again.");
  });
})();
