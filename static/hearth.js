// Small, optional improvements. Every page works without this file.
(function () {
  "use strict";

  // A live character count under text areas that have a limit.
  function setUpCounter(area) {
    var output = document.getElementById(area.getAttribute("data-counter"));
    var limit = parseInt(area.getAttribute("maxlength"), 10);
    if (!output || !limit) { return; }
    var format = function (n) { return n.toLocaleString("en-GB"); };
    var last = "";
    var update = function () {
      var used = area.value.length;
      var left = limit - used;
      var text;
      if (used === 0) {
        text = "Up to " + format(limit) + " characters.";
      } else if (left < 0) {
        text = format(-left) + " character" + (left === -1 ? "" : "s") + " over the limit of " +
          format(limit) + ". Please shorten it.";
      } else if (left === 0) {
        text = "You've reached the limit of " + format(limit) + " characters.";
      } else if (left <= 200) {
        text = format(left) + " characters left.";
      } else {
        text = format(used) + " of " + format(limit) + " characters.";
      }
      output.classList.toggle("field-count--near", left <= 200);
      // Announce only changes of wording that matter, not every keystroke.
      if (left > 200 && used > 0) {
        output.setAttribute("aria-live", "off");
      } else {
        output.setAttribute("aria-live", "polite");
      }
      if (text !== last) { output.textContent = text; last = text; }
    };
    area.addEventListener("input", update);
    update();
  }

  // A form sent once: the button waits after the first click. The server also
  // refuses duplicates (an idempotency key), so this is only a courtesy.
  function setUpOnce(form) {
    form.addEventListener("submit", function () {
      var buttons = form.querySelectorAll("button[type=submit], input[type=submit]");
      window.setTimeout(function () {
        buttons.forEach(function (b) { b.disabled = true; b.setAttribute("aria-disabled", "true"); });
      }, 0);
    });
  }

  // Coming back with the Back button must not leave buttons stuck.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-once] [disabled]").forEach(function (b) {
      b.disabled = false;
      b.removeAttribute("aria-disabled");
    });
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("textarea[data-counter]").forEach(setUpCounter);
    document.querySelectorAll("form[data-once]").forEach(setUpOnce);
  });
})();
