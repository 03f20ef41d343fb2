/*
 * The task frame's side of the worker site's frame protocol. The task content origin adds
 * this script (from its own /assets/) to every task page it serves: a requester's
 * HTMLQuestion and a QuestionForm page. The worker site's origin, the only one it talks to,
 * is the script tag's data-worker-origin.
 *
 * To the worker site's task page (window.parent), and to no other origin:
 *   {"hitblocks": "height", "height": <px>}   on load, and whenever the content's height
 *                                             changes (the page makes the frame that tall
 *                                             when the HIT's FrameHeight is 0);
 *   {"hitblocks": "key", "key": "submit"}     Ctrl+Enter (or Cmd+Enter) pressed in the task;
 *   {"hitblocks": "key", "key": "return"}     Alt+R;
 *   {"hitblocks": "key", "key": "skip"}       Alt+S.
 * From the task page: {"hitblocks": "submit"} submits the task's form, as its own submit
 * button would (never in a preview, where the HIT is not accepted).
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var workerOrigin = script ? script.getAttribute("data-worker-origin") || "" : "";
  if (!workerOrigin || window.parent === window) return;  // not framed by the worker site

  function tell(message) {
    window.parent.postMessage(message, workerOrigin);
  }

  // ---- height ---------------------------------------------------------------------------

  var lastHeight = -1;
  var pending = false;

  // The content's own height: the root's box (margins of the body included), or, when the
  // page pins the root to the frame's height (html { height: 100% }), what overflows it.
  // A page without a doctype (quirks mode) stretches html and body to the frame, so there
  // the content is measured itself: where its last line ends, plus the body's margin.
  function contentHeight() {
    var root = document.documentElement;
    if (document.compatMode === "BackCompat" && document.body) return quirksHeight(document.body);
    var height = Math.ceil(root.getBoundingClientRect().height);
    if (root.scrollHeight > root.clientHeight) height = Math.max(height, root.scrollHeight);
    return height;
  }

  function quirksHeight(body) {
    var range = document.createRange();
    range.selectNodeContents(body);
    var style = window.getComputedStyle(body);
    var below = parseFloat(style.marginBottom) + parseFloat(style.paddingBottom) || 0;
    return Math.ceil(range.getBoundingClientRect().bottom + window.pageYOffset + below);
  }

  function measure() {
    pending = false;
    var height = contentHeight();
    if (height === lastHeight) return;
    lastHeight = height;
    tell({ hitblocks: "height", height: height });
  }

  function soon() {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(measure);
  }

  function watch() {
    if (typeof ResizeObserver === "function") {
      var observer = new ResizeObserver(soon);
      observer.observe(document.documentElement);
      if (document.body) observer.observe(document.body);
    }
    if (document.compatMode === "BackCompat" && typeof MutationObserver === "function") {
      // In quirks mode html and body keep the frame's size: watch the content instead.
      new MutationObserver(soon).observe(document.body || document.documentElement, {
        childList: true, subtree: true, attributes: true, characterData: true
      });
    }
    soon();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", watch);
  } else {
    watch();
  }
  window.addEventListener("load", soon);  // images and fonts loaded since

  // ---- keys -----------------------------------------------------------------------------

  // Keys are read from event.code, so that Alt+R means R on any keyboard layout (on a Mac,
  // Option+R types "®").
  function keyOf(event) {
    if (event.isComposing || event.repeat) return "";
    if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key === "Enter") {
      return "submit";
    }
    if (event.altKey && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
      // In a field, Option+R and Option+S type "®" and "ß" on a Mac: that is the worker's
      // text, not a request to give the HIT back (and lose what they typed).
      if (typing(event)) return "";
      if (event.code === "KeyR") return "return";
      if (event.code === "KeyS") return "skip";
    }
    return "";
  }

  // A key that types a character of its own (not the letter of its key) into a field.
  function typing(event) {
    var target = event.target;
    var editable = !!target && (target.isContentEditable ||
      /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName || ""));
    var letter = event.code.length === 4 ? event.code.charAt(3).toLowerCase() : "";
    return editable && event.key.length === 1 && event.key.toLowerCase() !== letter;
  }

  // In the bubbling phase on the window: a task that handles a key itself (and prevents its
  // default) keeps it.
  window.addEventListener("keydown", function (event) {
    if (event.defaultPrevented) return;
    var key = keyOf(event);
    if (!key) return;
    event.preventDefault();  // Ctrl+Enter in a field would otherwise submit the form itself
    tell({ hitblocks: "key", key: key });
  });

  // ---- submit ---------------------------------------------------------------------------

  function isForm(element) {
    return !!element && element.tagName === "FORM";
  }

  // The task's form: MTurk's "mturk_form", else the page's only form (a <crowd-form> is one
  // once the crowd elements have drawn it), else the only one posting to externalSubmit.
  function taskForm() {
    var named = document.getElementById("mturk_form");
    if (isForm(named)) return named;
    var forms = Array.prototype.slice.call(document.forms);
    if (forms.length === 1) return forms[0];
    var submitting = forms.filter(function (form) {
      return /\/mturk\/externalSubmit(?:[?#]|$)/i.test(form.getAttribute("action") || "");
    });
    return submitting.length === 1 ? submitting[0] : null;
  }

  function accepted() {
    var id = new URLSearchParams(window.location.search).get("assignmentId");
    return !!id && id !== "ASSIGNMENT_ID_NOT_AVAILABLE";
  }

  function submitTask() {
    var form = taskForm();
    if (!form || !accepted()) return;
    var buttons = Array.prototype.filter.call(form.elements, function (element) {
      return element.type === "submit" && (element.tagName === "BUTTON" || element.tagName === "INPUT");
    });
    var enabled = buttons.filter(function (button) { return !button.disabled; });
    if (buttons.length && !enabled.length) return;  // the task has not let the worker submit
    if (typeof form.requestSubmit === "function") {
      // As the worker's own click would: validation, the task's submit handlers, and the
      // button's name and value among the answers.
      if (enabled.length) form.requestSubmit(enabled[0]);
      else form.requestSubmit();
    } else if (enabled.length) {
      enabled[0].click();
    } else {
      form.submit();
    }
  }

  window.addEventListener("message", function (event) {
    if (event.origin !== workerOrigin || event.source !== window.parent) return;
    var data = event.data;
    if (data && typeof data === "object" && data.hitblocks === "submit") submitTask();
  });
})();
