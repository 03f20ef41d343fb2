/*
 * The task page's side of the frame protocol (task-frame.js is the frame's side). The page's
 * <iframe id="task-frame"> carries:
 *   data-content-origin  the task content origin, where HTMLQuestion and QuestionForm pages
 *                        run with task-frame.js;
 *   data-frame-height    the HIT's FrameHeight: 0 makes the frame as tall as its content (as
 *                        on MTurk), or, for a requester's own site (an ExternalQuestion, which
 *                        cannot tell its height), as tall as the window; any other value stays.
 *
 * Messages are taken only from the task frame's own window, and only from the origins that
 * may send them: "height" and "key" from the content origin (or the worker site's own pages
 * shown in the frame), "submitted" from the worker site's own answer page. They become:
 *   the frame's height;
 *   window event "hitblocks:key", detail {key: "submit" | "return" | "skip"};
 *   window event "hitblocks:submitted", detail {ok, assignmentId, message, next}.
 * window.HitblocksFrame.submit() asks the task to submit its form ({"hitblocks": "submit"}).
 */
(function () {
  "use strict";

  var MIN_HEIGHT = 200;
  var MAX_HEIGHT = 12000;
  var KEYS = { submit: true, "return": true, skip: true };

  var frame = document.getElementById("task-frame");
  if (!frame) return;
  var self = window.location.origin;
  var contentOrigin = frame.getAttribute("data-content-origin") || "";
  var fixed = Number(frame.getAttribute("data-frame-height") || "0");
  var automatic = !(fixed > 0);

  function frameOrigin() {
    try {
      return new URL(frame.src, window.location.href).origin;
    } catch (error) {
      return "";
    }
  }
  // A task that reports its height: drawn by the content origin (or the worker site itself).
  var reporting = frameOrigin() === contentOrigin || frameOrigin() === self;

  function clamp(height) {
    return Math.round(Math.min(MAX_HEIGHT, Math.max(MIN_HEIGHT, height)));
  }

  // ---- height ---------------------------------------------------------------------------

  // A page whose height follows its frame's (min-height: 100vh plus a margin) would grow the
  // frame a little at every step: small growths that answer, at once, the frame's own
  // resizing soon stop being followed (the frame is marked data-height-paused). Growth by a
  // real change in the content (an image loaded, a section opened) is larger, or comes later,
  // and is followed again.
  var resizedAt = 0;
  var creeping = 0;
  var CREEP_PX = 60;
  var CREEP_MS = 250;
  var CREEP_STEPS = 8;

  // The frame's own border, around the content's height (whatever the page's box-sizing).
  function border() {
    return Math.max(0, frame.offsetHeight - frame.clientHeight);
  }

  // The height of the frame's inside, where the task is drawn.
  function setHeight(height) {
    var outer = clamp(height);
    if (window.getComputedStyle(frame).boxSizing === "border-box") outer += border();
    frame.style.height = outer + "px";
    resizedAt = Date.now();
  }

  function followContent(height) {
    if (!automatic || !reporting || !(height >= 0)) return;
    var was = frame.clientHeight;
    var wanted = clamp(height);
    var growth = wanted - was;
    if (growth > 0 && growth <= CREEP_PX && Date.now() - resizedAt < CREEP_MS) {
      creeping += 1;
      if (creeping > CREEP_STEPS) {
        frame.setAttribute("data-height-paused", "");
        return;
      }
    } else {
      creeping = 0;
      frame.removeAttribute("data-height-paused");
    }
    if (Math.abs(growth) >= 1) setHeight(wanted);
  }

  // A requester's own site (no task-frame.js) with FrameHeight 0: the window's height.
  function fillWindow() {
    setHeight(window.innerHeight - border());
  }
  if (automatic && !reporting) {
    fillWindow();
    window.addEventListener("resize", fillWindow);
  }

  // ---- messages -------------------------------------------------------------------------

  function text(value) {
    return typeof value === "string" ? value : "";
  }

  // Where the answer page sends the worker next: a page of the worker site, or nowhere.
  function sameSite(url) {
    try {
      return url && new URL(url, window.location.href).origin === self ? url : "";
    } catch (error) {
      return "";
    }
  }

  function announce(name, detail) {
    window.dispatchEvent(new CustomEvent(name, { detail: detail }));
  }

  window.addEventListener("message", function (event) {
    if (event.source !== frame.contentWindow) return;
    var data = event.data;
    if (!data || typeof data !== "object" || typeof data.hitblocks !== "string") return;
    var fromTask = (contentOrigin && event.origin === contentOrigin) || event.origin === self;
    if (data.hitblocks === "height" && fromTask && typeof data.height === "number") {
      followContent(data.height);
    } else if (data.hitblocks === "key" && fromTask && KEYS[data.key] === true) {
      announce("hitblocks:key", { key: data.key });
    } else if (data.hitblocks === "submitted" && event.origin === self) {
      announce("hitblocks:submitted", {
        hitblocks: "submitted",
        ok: data.ok === true,
        assignmentId: text(data.assignmentId),
        message: text(data.message),
        next: sameSite(text(data.next))
      });
    }
  });

  // A task that navigates (its form posted, the answer page shown) starts over.
  frame.addEventListener("load", function () {
    creeping = 0;
  });

  window.HitblocksFrame = {
    // Ask the task to submit its form, as its own submit button would.
    submit: function () {
      if (!frame.contentWindow || !contentOrigin) return;
      frame.contentWindow.postMessage({ hitblocks: "submit" }, contentOrigin);
    },
    frame: frame
  };
})();
