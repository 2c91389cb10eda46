// Vitals settings pages: the core-items editor, the two-handle threshold sliders, the rule
// rows of the feature form and confirmations. The server validates everything; this
// script only mirrors its rules so mistakes show before saving.
"use strict";

(function () {
  // --- confirmations: <form data-confirm="..."> -------------------------------------------
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute && form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });

  // --- thresholds: two overlaid range inputs kept in sync with two number inputs --------
  function parse(input) {
    if (input.value.trim() === "") {
      return NaN;
    }
    return Number(input.value);
  }

  function setupThreshold(fieldset) {
    var ranges = {
      lower: fieldset.querySelector('[data-range="lower"]'),
      upper: fieldset.querySelector('[data-range="upper"]')
    };
    var numbers = {
      lower: fieldset.querySelector('[data-number="lower"]'),
      upper: fieldset.querySelector('[data-number="upper"]')
    };
    var errors = {
      lower: fieldset.querySelector('[data-error="lower"]'),
      upper: fieldset.querySelector('[data-error="upper"]')
    };
    var track = fieldset.querySelector("[data-track]");
    var legend = fieldset.querySelector("[data-band-legend]");
    var bands = (fieldset.getAttribute("data-bands") || "Low|Moderate|High").split("|");

    function showError(which, message) {
      errors[which].textContent = message;
      numbers[which].classList.toggle("is-invalid", message !== "");
    }

    // Mirrors the server: each a number in 0..100, and lower < upper.
    function check() {
      var lower = parse(numbers.lower);
      var upper = parse(numbers.upper);
      var ok = true;
      ["lower", "upper"].forEach(function (which) {
        var value = which === "lower" ? lower : upper;
        if (isNaN(value)) {
          showError(which, "Give a number from 0 to 100.");
          ok = false;
        } else if (value < 0 || value > 100) {
          showError(which, "Give a number from 0 to 100.");
          ok = false;
        } else {
          showError(which, "");
        }
      });
      if (ok && !(lower < upper)) {
        showError("upper", "The upper limit (" + upper + ") must be above the lower one (" + lower + ").");
        ok = false;
      }
      if (!ok) {
        legend.textContent = "";
      } else {
        track.style.setProperty("--vitals-lower", lower + "%");
        track.style.setProperty("--vitals-upper", upper + "%");
        legend.textContent = bands[0] + " below " + lower + "%, " + bands[1] + " from " + lower +
          "% to " + upper + "%, " + bands[2] + " from " + upper + "%.";
      }
      // The lower handle sits on top when it is near the right end, so it stays reachable.
      ranges.lower.classList.toggle("vitals-on-top", Number(ranges.lower.value) > 50);
      return ok;
    }

    ["lower", "upper"].forEach(function (which) {
      ranges[which].addEventListener("input", function () {
        var lower = Number(ranges.lower.value);
        var upper = Number(ranges.upper.value);
        // The handles never cross: lower < upper always holds on the slider.
        if (which === "lower" && lower >= upper) {
          ranges.lower.value = String(upper - 1);
        } else if (which === "upper" && upper <= lower) {
          ranges.upper.value = String(lower + 1);
        }
        numbers[which].value = ranges[which].value;
        check();
      });
      numbers[which].addEventListener("input", function () {
        var value = parse(numbers[which]);
        if (!isNaN(value)) {
          ranges[which].value = String(Math.min(100, Math.max(0, value)));
        }
        check();
      });
    });
    // Server errors stay as rendered until the admin touches the fields.
    if (!numbers.lower.classList.contains("is-invalid") &&
        !numbers.upper.classList.contains("is-invalid")) {
      check();
    } else {
      ranges.lower.classList.toggle("vitals-on-top", Number(ranges.lower.value) > 50);
    }
  }

  // --- core items: add from the picker, remove, reorder; at most data-max ----------------
  function setupCoreEditor(editor) {
    var list = editor.querySelector("[data-core-list]");
    var template = editor.querySelector("[data-core-template]");
    var count = editor.querySelector("[data-core-count]");
    var empty = editor.querySelector("[data-core-empty]");
    var limit = editor.querySelector("[data-core-limit]");
    var max = Number(editor.getAttribute("data-max") || "100");
    var search = editor.querySelector("[data-core-search]");

    function tokens() {
      return Array.prototype.map.call(list.querySelectorAll("[data-core-item]"), function (item) {
        return item.getAttribute("data-core-item");
      });
    }

    function refresh() {
      var chosen = tokens();
      count.textContent = String(chosen.length);
      empty.classList.toggle("d-none", chosen.length > 0);
      limit.classList.toggle("d-none", chosen.length < max);
      editor.querySelectorAll("[data-core-add]").forEach(function (button) {
        var taken = chosen.indexOf(button.getAttribute("data-core-add")) !== -1;
        button.disabled = taken || chosen.length >= max;
        button.classList.toggle("vitals-picked", taken);
        button.setAttribute("aria-pressed", taken ? "true" : "false");
      });
    }

    function add(token, label) {
      if (tokens().indexOf(token) !== -1 || tokens().length >= max) {
        refresh();
        return;
      }
      var item = template.content.firstElementChild.cloneNode(true);
      var kind = token.split(":")[0];
      item.setAttribute("data-core-item", token);
      item.querySelector('input[type="hidden"]').value = token;
      var badge = item.querySelector(".vitals-kind");
      badge.textContent = kind;
      badge.classList.add("vitals-kind-" + kind);
      item.querySelector("[data-core-name]").textContent = label;
      item.querySelector("[data-core-up]").setAttribute("aria-label", "Move " + label + " up");
      item.querySelector("[data-core-down]").setAttribute("aria-label", "Move " + label + " down");
      item.querySelector("[data-core-remove]").setAttribute("aria-label", "Remove " + label);
      list.appendChild(item);
      refresh();
    }

    editor.addEventListener("click", function (event) {
      var button = event.target.closest("button");
      if (!button || !editor.contains(button)) {
        return;
      }
      var item = button.closest("[data-core-item]");
      if (button.hasAttribute("data-core-add")) {
        add(button.getAttribute("data-core-add"), button.getAttribute("data-core-label"));
      } else if (button.hasAttribute("data-core-remove") && item) {
        item.remove();
        refresh();
      } else if (button.hasAttribute("data-core-up") && item && item.previousElementSibling) {
        list.insertBefore(item, item.previousElementSibling);
        button.focus();
      } else if (button.hasAttribute("data-core-down") && item && item.nextElementSibling) {
        list.insertBefore(item.nextElementSibling, item);
        button.focus();
      }
    });

    if (search) {
      search.addEventListener("input", function () {
        var query = search.value.trim().toLowerCase();
        editor.querySelectorAll("[data-search]").forEach(function (button) {
          var match = button.getAttribute("data-search").indexOf(query) !== -1;
          button.classList.toggle("d-none", !match);
        });
      });
    }
    refresh();
  }

  // --- feature form: rule rows ------------------------------------------------------------
  function setupRules(fieldset) {
    var list = fieldset.querySelector("[data-rule-list]");
    var template = fieldset.querySelector("[data-rule-template]");
    function changed() {
      fieldset.dispatchEvent(new CustomEvent("rules-changed", { bubbles: true }));
    }
    fieldset.addEventListener("click", function (event) {
      var button = event.target.closest("button");
      if (!button) {
        return;
      }
      if (button.hasAttribute("data-rule-add")) {
        var row = template.content.firstElementChild.cloneNode(true);
        list.appendChild(row);
        row.querySelector('[name="rule_value"]').focus();
        changed();
      } else if (button.hasAttribute("data-rule-remove")) {
        button.closest("[data-rule-row]").remove();
        changed();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-threshold]").forEach(setupThreshold);
    document.querySelectorAll("[data-core-editor]").forEach(setupCoreEditor);
    document.querySelectorAll("[data-rules]").forEach(setupRules);
  });
})();
