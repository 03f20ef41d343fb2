/*
 * The worker site's pages, made a little better with JavaScript (every page works without):
 *
 * - Times: every <time datetime="...Z"> shows in the worker's own time zone
 *   (Intl.DateTimeFormat); a <time data-countdown> counts down to its time, live.
 * - The task page (#task-bar around the #task-frame): keys, on the page and, forwarded by
 *   frame-host.js as "hitblocks:key" events, inside the task: Ctrl+Enter submits the task
 *   (asks its frame: {"hitblocks": "submit"}) or, in a preview, accepts it; Alt+S skips;
 *   Alt+R returns. A "Submit" button does what Ctrl+Enter does, for tasks that can be asked.
 * - A submit ("hitblocks:submitted", from frame-host.js): acknowledged on the page itself, in
 *   its live region, and the worker taken where the flow goes on ("next": the group's next
 *   HIT, or the list). The next page says "Submitted – next HIT loaded".
 * - The "next HIT" page of a flow sends its Accept form at once, but only right after a
 *   submit in that group (a link from elsewhere leaves the choice to the worker).
 * - Auto-accept is turned on and off in place, without reloading the task.
 * - The answer page that externalSubmit shows in the task frame tells the task page about
 *   the submission ({"hitblocks": "submitted", ok, assignmentId, message, next}).
 * No dependencies.
 */
(function () {
  "use strict";

  var ACK = "hitblocks:ack"; // what to say on the next page, after a submit
  var FLOW = "hitblocks:flow"; // the "next HIT" page a submit sent the worker to

  function remember(key, value) {
    try {
      if (value === null) window.sessionStorage.removeItem(key);
      else window.sessionStorage.setItem(key, value);
    } catch (error) {
      /* storage refused: the flow still works, with one more click */
    }
  }

  function recall(key) {
    try {
      return window.sessionStorage.getItem(key);
    } catch (error) {
      return null;
    }
  }

  // ---- the answer page, in the task frame -------------------------------------------------

  function tellTaskPage() {
    var data = document.getElementById("hitblocks-submitted");
    if (!data || window.parent === window) return;
    var message;
    try {
      message = JSON.parse(data.textContent || "");
    } catch (error) {
      return;
    }
    var origin = data.getAttribute("data-parent-origin");
    if (origin) window.parent.postMessage(message, origin);
  }

  // ---- times ---------------------------------------------------------------------------

  var localFormat = null;
  try {
    localFormat = new Intl.DateTimeFormat(undefined, {
      year: "numeric",
      month: "short",
      day: "numeric",
      hour: "2-digit",
      minute: "2-digit",
      timeZoneName: "short"
    });
  } catch (error) {
    localFormat = null;
  }

  function instant(element) {
    var value = Date.parse(element.getAttribute("datetime") || "");
    return isNaN(value) ? null : value;
  }

  function localise(element) {
    var at = instant(element);
    if (at === null || !localFormat) return;
    if (!element.title) element.title = element.textContent.trim();
    element.textContent = localFormat.format(new Date(at));
  }

  function pad(number) {
    return (number < 10 ? "0" : "") + number;
  }

  function remaining(milliseconds) {
    var seconds = Math.max(0, Math.floor(milliseconds / 1000));
    var hours = Math.floor(seconds / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    var rest = seconds % 60;
    if (hours >= 48) return Math.floor(hours / 24) + " days left";
    return (hours ? hours + ":" + pad(minutes) : minutes) + ":" + pad(rest) + " left";
  }

  function countDown(elements) {
    function tick() {
      var now = Date.now();
      elements.forEach(function (element) {
        var at = instant(element);
        if (at === null) return;
        var left = at - now;
        element.textContent = left > 0 ? remaining(left) : "Time is up";
        element.classList.toggle("low", left < 60000);
      });
    }
    elements.forEach(function (element) {
      var at = instant(element);
      if (at !== null && localFormat) element.title = "Due " + localFormat.format(new Date(at));
    });
    tick();
    if (elements.length) window.setInterval(tick, 1000);
  }

  function times() {
    var all = Array.prototype.slice.call(document.querySelectorAll("time[datetime]"));
    all.filter(function (element) {
      return !element.hasAttribute("data-countdown");
    }).forEach(localise);
    countDown(all.filter(function (element) {
      return element.hasAttribute("data-countdown");
    }));
  }

  // ---- saying things ----------------------------------------------------------------------

  function statusRegion() {
    var region = document.getElementById("flow-status");
    if (region) return region;
    var main = document.querySelector("main");
    if (!main) return null;
    region = document.createElement("p");
    region.id = "flow-status";
    region.className = "notice";
    region.setAttribute("role", "status");
    region.setAttribute("aria-live", "polite");
    main.insertBefore(region, main.firstChild);
    return region;
  }

  function say(text, failed) {
    var region = statusRegion();
    if (!region) return;
    region.classList.toggle("failed", !!failed);
    region.textContent = text;
  }

  // After a submit, the page the flow went on to says so.
  function acknowledge(taskBar) {
    var said = recall(ACK);
    if (said === null) return;
    remember(ACK, null);
    var text = said;
    if (taskBar && taskBar.getAttribute("data-assignment-id")) {
      text = "Submitted – next HIT loaded.";
    } else if (taskBar) {
      text = "Submitted – the next HIT of the group, not accepted yet (auto-accept is off).";
    }
    // Filled a moment after load, so that screen readers announce the change.
    window.setTimeout(function () {
      say(text);
    }, 50);
  }

  // ---- the task page ------------------------------------------------------------------------

  function taskPage(taskBar) {
    var frame = document.getElementById("task-frame");
    var assignmentId = taskBar.getAttribute("data-assignment-id") || "";
    var contentOrigin = frame ? frame.getAttribute("data-content-origin") || "" : "";
    var submitted = false;

    function frameOrigin() {
      try {
        return new URL(frame.src, window.location.href).origin;
      } catch (error) {
        return "";
      }
    }
    // A task drawn by the content origin runs task-frame.js: it can be asked to submit.
    var askable = !!frame && !!contentOrigin && frameOrigin() === contentOrigin;

    function submitTask() {
      if (!askable || submitted) return;
      if (window.HitblocksFrame && typeof window.HitblocksFrame.submit === "function") {
        window.HitblocksFrame.submit();
      } else {
        frame.contentWindow.postMessage({ hitblocks: "submit" }, contentOrigin);
      }
    }

    function press(id) {
      var control = document.getElementById(id);
      if (!control || control.disabled) return false;
      control.click();
      return true;
    }

    function act(key) {
      if (submitted) return false;
      if (key === "submit") {
        if (assignmentId) {
          if (!askable) return false;
          submitTask();
          return true;
        }
        return press("accept");
      }
      if (key === "skip") return press("skip");
      if (key === "return") return assignmentId ? press("return") : false;
      return false;
    }

    document.addEventListener("keydown", function (event) {
      if (event.defaultPrevented || event.repeat) return;
      var key = null;
      if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key === "Enter") {
        key = "submit";
      } else if (event.altKey && !event.ctrlKey && !event.metaKey) {
        if (event.code === "KeyS") key = "skip";
        else if (event.code === "KeyR") key = "return";
      }
      if (key && act(key)) event.preventDefault();
    });
    window.addEventListener("hitblocks:key", function (event) {
      if (!event.detail || typeof event.detail.key !== "string") return;
      // The task's own script can send any key, unasked (a page can focus its frame and
      // post "submit"): in a preview, accepting takes the worker's key or click on this page.
      if (!assignmentId && event.detail.key === "submit") return;
      act(event.detail.key);
    });

    var submitButton = document.getElementById("submit-task");
    if (submitButton && askable) {
      submitButton.hidden = false;
      submitButton.addEventListener("click", submitTask);
    }

    window.addEventListener("hitblocks:submitted", function (event) {
      var detail = event.detail || {};
      if (assignmentId && detail.assignmentId && detail.assignmentId !== assignmentId) return;
      if (!detail.ok) {
        say(detail.message || "Your work was not submitted.", true);
        return;
      }
      submitted = true;
      taskBar.setAttribute("data-submitted", "");
      say(detail.message || "Submitted.");
      if (!detail.next) return;
      var next;
      try {
        next = new URL(detail.next, window.location.href);
      } catch (error) {
        return;
      }
      if (next.origin !== window.location.origin) return;
      remember(ACK, detail.message || "Submitted.");
      remember(FLOW, next.pathname);
      window.location.assign(next.href);
    });
  }

  // ---- the flow's "next HIT" page -----------------------------------------------------------

  function acceptNext() {
    var form = document.querySelector("form[data-flow-accept]");
    if (!form) return false;
    var expected = recall(FLOW);
    remember(FLOW, null);
    if (expected !== window.location.pathname) return false;
    var status = document.getElementById("flow-status");
    if (status) status.textContent = "Submitted – accepting the next HIT…";
    if (typeof form.requestSubmit === "function") form.requestSubmit();
    else form.submit();
    return true;
  }

  // ---- auto-accept, in place ------------------------------------------------------------------

  function autoAcceptToggle() {
    var form = document.getElementById("auto-accept-form");
    var box = document.getElementById("auto-accept");
    if (!form || !box || !window.fetch || !window.FormData) return;
    var save = document.getElementById("save-auto-accept");
    if (save) save.hidden = true;
    box.addEventListener("change", function () {
      var wanted = box.checked;
      window
        .fetch(form.action, {
          method: "POST",
          body: new FormData(form),
          credentials: "same-origin",
          headers: { "X-Hitblocks-Async": "1" }
        })
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          say(wanted ? "Auto-accept is on." : "Auto-accept is off.");
        })
        .catch(function () {
          box.checked = !wanted;
          say("Auto-accept could not be changed: reload the page and try again.", true);
        });
    });
  }

  function start() {
    tellTaskPage();
    if (!document.querySelector("main")) return; // the answer page: nothing more
    times();
    if (acceptNext()) return;
    remember(FLOW, null);
    var taskBar = document.getElementById("task-bar");
    if (taskBar) taskPage(taskBar);
    autoAcceptToggle();
    acknowledge(taskBar);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
