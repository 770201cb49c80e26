// Small, optional improvements. Every page works without this file.
(function () {
  "use strict";

  // Characters as the server counts them: code points of the trimmed text (an emoji is
  // one, not two UTF-16 units), so the counter and the server's refusal agree.
  function countChars(value) {
    return Array.from(value.trim()).length;
  }

  // A live character count under text areas that have a limit. The limit is in
  // data-limit, not maxlength: maxlength would silently cut pasted text, and a writer
  // must never lose words without being told. Over the limit the field is marked
  // invalid; sending is still allowed, and the server answers with its own message.
  function setUpCounter(area) {
    var output = document.getElementById(area.getAttribute("data-counter"));
    var limit = parseInt(area.getAttribute("data-limit") || area.getAttribute("maxlength"), 10);
    if (!output || !limit) { return; }
    var format = function (n) { return n.toLocaleString("en-GB"); };
    // An error the server reported stays marked until the writer changes the text.
    var serverInvalid = area.getAttribute("aria-invalid") === "true";
    var last = "";
    var update = function (event) {
      if (event) { serverInvalid = false; }
      var used = countChars(area.value);
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
        text = format(left) + " character" + (left === 1 ? "" : "s") + " left.";
      } else {
        text = format(used) + " of " + format(limit) + " characters.";
      }
      output.classList.toggle("field-count--near", left <= 200 && left >= 0);
      output.classList.toggle("field-count--over", left < 0);
      if (left < 0 || serverInvalid) {
        area.setAttribute("aria-invalid", "true");
      } else {
        area.removeAttribute("aria-invalid");
      }
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
