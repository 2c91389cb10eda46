// Accounts Explorer: the column chooser (tick, drag to reorder) and the search box's
// memory across history. Everything else is htmx attributes; without this file the
// page still works through plain links and forms.
"use strict";

(function () {
  if (window.vitalsExplorer) {
    return; // an htmx history restore may bring the <script> element back
  }
  window.vitalsExplorer = true;
  document.documentElement.classList.add("js-enabled");

  var dragged = null;

  function chooserForm(element) {
    return element && element.closest ? element.closest("[data-chooser-form]") : null;
  }

  // With JavaScript the chooser sends one ordered `cols`, not a `col` per checkbox.
  function prepare(root) {
    (root || document).querySelectorAll("[data-chooser-form] input[name='col']").forEach(
      function (box) {
        box.removeAttribute("name");
      }
    );
  }

  function apply(form) {
    var keys = [];
    form.querySelectorAll("[data-chooser-list] > li").forEach(function (item) {
      var box = item.querySelector("input[type='checkbox']");
      if (box && box.checked) {
        keys.push(item.getAttribute("data-key"));
      }
    });
    if (keys.length === 0) {
      return; // keep at least one column
    }
    form.querySelector("[data-chooser-cols]").value = keys.join(",");
    window.htmx.trigger(form, "submit");
  }

  document.addEventListener("change", function (event) {
    var form = chooserForm(event.target);
    if (form && event.target.type === "checkbox") {
      apply(form);
    }
  });

  // Plain HTML5 drag and drop within the chooser list.
  document.addEventListener("dragstart", function (event) {
    var item = event.target.closest && event.target.closest("[data-chooser-list] > li");
    if (!item) {
      return;
    }
    dragged = item;
    item.classList.add("is-dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", item.getAttribute("data-key"));
  });

  document.addEventListener("dragover", function (event) {
    var item = dragged && event.target.closest && event.target.closest("[data-chooser-list] > li");
    if (!item || item.parentNode !== dragged.parentNode) {
      return;
    }
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    document.querySelectorAll(".is-drop-target").forEach(function (el) {
      el.classList.remove("is-drop-target");
    });
    if (item !== dragged) {
      item.classList.add("is-drop-target");
    }
  });

  document.addEventListener("drop", function (event) {
    var item = dragged && event.target.closest && event.target.closest("[data-chooser-list] > li");
    if (!item || item === dragged || item.parentNode !== dragged.parentNode) {
      return;
    }
    event.preventDefault();
    var items = Array.prototype.slice.call(item.parentNode.children);
    var before = items.indexOf(dragged) > items.indexOf(item) ? item : item.nextSibling;
    item.parentNode.insertBefore(dragged, before);
    apply(chooserForm(item));
  });

  document.addEventListener("dragend", function () {
    if (dragged) {
      dragged.classList.remove("is-dragging");
    }
    dragged = null;
    document.querySelectorAll(".is-drop-target").forEach(function (el) {
      el.classList.remove("is-drop-target");
    });
  });

  // Keep the chooser open while its own changes re-render the table.
  var chooserWasOpen = false;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var open = document.querySelector("#explorer-table details[data-chooser]");
    chooserWasOpen = Boolean(open && open.open && event.detail.requestConfig &&
      chooserForm(event.detail.requestConfig.elt || event.detail.elt));
  });

  // The filter form sends every field; only the filled ones belong in the URL.
  document.addEventListener("htmx:configRequest", function (event) {
    var elt = event.detail.elt;
    var data = event.detail.formData;
    if (!elt || !elt.closest || !elt.closest("[data-filters-form]") || !data) {
      return;
    }
    var names = [];
    data.forEach(function (value, name) {
      if (names.indexOf(name) === -1) {
        names.push(name);
      }
    });
    names.forEach(function (name) {
      var kept = data.getAll(name).filter(function (value) {
        return String(value).trim() !== "";
      });
      data.delete(name);
      kept.forEach(function (value) {
        data.append(name, value);
      });
    });
  });

  // htmx snapshots the page for back/forward; the typed search must be in the markup.
  document.addEventListener("input", function (event) {
    if (event.target.id === "explorer-q") {
      event.target.setAttribute("value", event.target.value);
    }
  });

  function afterContent(root) {
    prepare(root);
    var table = document.getElementById("explorer-table");
    var search = document.getElementById("explorer-q");
    if (table && search && document.activeElement !== search) {
      search.value = table.getAttribute("data-q") || "";
      search.setAttribute("value", search.value);
    }
    if (chooserWasOpen) {
      var details = document.querySelector("#explorer-table details[data-chooser]");
      if (details) {
        details.open = true;
      }
      chooserWasOpen = false;
    }
  }

  document.addEventListener("htmx:load", function (event) {
    afterContent(event.target);
  });
  document.addEventListener("htmx:historyRestore", function () {
    afterContent(document);
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      afterContent(document);
    });
  } else {
    afterContent(document);
  }
})();
