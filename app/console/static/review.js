/*
 * The review queue (console/review.html), by keyboard. Without script the page still works
 * (forms and links); with it:
 *
 * - One response at a time: moving through the queue fetches each response's panel, an
 *   HTML fragment the server renders (autoescaped), and swaps it in; the next one is fetched
 *   ahead. The address keeps ?response=<id>.
 * - Keys (none while typing in a field): a approve; r reject (1-9 picks a reason, or type
 *   one; Enter sends, Esc cancels); b bonus (amount, reason; Enter sends); s skip to the next
 *   undecided; j / ArrowRight next, k / ArrowLeft previous; u or Ctrl+Z undo; ? help.
 * - A decision waits a few seconds (data-delay) in a toast with a countdown before it is
 *   POSTed, so the last ones can be undone; meanwhile the next response opens. Leaving the
 *   page (or hiding it) sends what waits at once, with fetch's keepalive, which, unlike
 *   sendBeacon, carries the X-CSRFToken header. What MTurk refuses (409: approved already,
 *   say) stays on screen as a failed toast, and in the list.
 * - The list: tick rows, "Approve selected (N)" sends exactly the ticked ids; each row then
 *   says what became of it.
 * No dependencies.
 */
(function () {
  "use strict";

  var app = document.getElementById("review-app");
  if (!app || !window.fetch) return;

  var DELAY = Number(app.getAttribute("data-delay")) || 4000;
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";
  var reviewUrl = app.getAttribute("data-review-url");
  var panelUrl = app.getAttribute("data-panel-url");
  var selectedUrl = app.getAttribute("data-approve-selected-url");

  var holder = document.getElementById("review-panel");
  var doneNote = document.getElementById("queue-done");
  var toasts = document.getElementById("toasts");
  var oneByOne = document.getElementById("one-by-one");
  var listView = document.getElementById("list-view");
  var rejectForm = document.getElementById("reject-form");
  var bonusForm = document.getElementById("bonus-form");
  var typed = document.getElementById("reason-typed");
  var typedChoice = document.getElementById("reason-typed-choice");
  var help = document.getElementById("help");

  var order = []; // the queue's ids, in review order, as the page listed them
  Array.prototype.forEach.call(document.querySelectorAll("#queue-table tbody tr"), function (row) {
    order.push(Number(row.getAttribute("data-response-id")));
  });
  var decided = {}; // id -> "approve" | "reject" while waiting or once sent
  var cache = {}; // id -> panel fragment fetched ahead
  var pending = []; // decisions waiting to be sent, oldest first
  var currentId = null;

  function article() {
    return document.getElementById("review");
  }

  function fragmentUrl(id) {
    return panelUrl.replace(/\/0\/panel$/, "/" + id + "/panel");
  }

  function headers(extra) {
    var all = { "X-Requested-With": "fetch", "X-CSRFToken": csrf };
    Object.keys(extra || {}).forEach(function (name) {
      all[name] = extra[name];
    });
    return all;
  }

  function errorText(response) {
    return response
      .json()
      .then(function (body) {
        return (body && body.error && body.error.message) || "Refused (" + response.status + ").";
      })
      .catch(function () {
        return "Refused (" + response.status + ").";
      });
  }

  // ---- toasts ------------------------------------------------------------------------------
  // One toast per decision waiting to be sent (the last few shown, then "n more"), one line
  // that says what just happened (replaced each time), and one toast per failure, kept until
  // dismissed. All in the page's polite live region; a failure is an alert.

  var VISIBLE_PENDING = 3;
  var more = document.createElement("div");
  more.className = "toast more";
  more.hidden = true;
  var news = document.createElement("div");
  news.className = "toast done";
  news.hidden = true;
  toasts.appendChild(more);
  toasts.appendChild(news);
  var newsTimer = null;

  function toast(text, kind, options) {
    var element = document.createElement("div");
    element.className = "toast" + (kind ? " " + kind : "");
    if (kind === "failed") element.setAttribute("role", "alert");
    var what = document.createElement("span");
    what.className = "what";
    what.textContent = text;
    element.appendChild(what);
    if (options && options.spoken) {
      var spoken = document.createElement("span");
      spoken.className = "visually-hidden";
      spoken.textContent = options.spoken;
      what.appendChild(spoken);
    }
    if (options && options.countdown) {
      var count = document.createElement("span");
      count.className = "countdown";
      count.setAttribute("aria-hidden", "true");
      element.appendChild(count);
      element.countdown = count;
    }
    if (options && options.button) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "secondary";
      button.textContent = options.button;
      button.addEventListener("click", options.onClick);
      element.appendChild(button);
    }
    toasts.insertBefore(element, more);
    return element;
  }

  // What just happened, in the one line kept for it.
  function say(text, failed) {
    if (failed) {
      var element = toast(text, "failed", {
        button: "Dismiss",
        onClick: function () {
          element.remove();
        }
      });
      return;
    }
    news.textContent = text;
    news.hidden = false;
    window.clearTimeout(newsTimer);
    newsTimer = window.setTimeout(function () {
      news.hidden = true;
    }, 3000);
  }

  function showPending() {
    var hiddenCount = Math.max(0, pending.length - VISIBLE_PENDING);
    pending.forEach(function (entry, index) {
      if (entry.toast) entry.toast.hidden = index < hiddenCount;
    });
    more.hidden = hiddenCount === 0;
    more.textContent = "… and " + hiddenCount + " more waiting to be sent";
  }

  window.setInterval(function () {
    var now = Date.now();
    pending.forEach(function (entry) {
      if (entry.toast && entry.toast.countdown) {
        entry.toast.countdown.textContent = "sent in " + Math.max(0, Math.ceil((entry.due - now) / 1000)) + " s";
      }
    });
  }, 200);

  // ---- counts and the list -----------------------------------------------------------------

  function bump(id, by) {
    var element = document.getElementById(id);
    if (element) element.textContent = String(Math.max(0, Number(element.textContent) + by));
  }

  function row(id) {
    return document.querySelector('#queue-table tr[data-response-id="' + id + '"]');
  }

  function markRow(id, text, kind) {
    var found = row(id);
    if (!found) return;
    found.querySelector(".row-status").textContent = text;
    found.classList.toggle("decided", kind === "ok" || kind === "waiting");
    found.classList.toggle("ok", kind === "ok");
    found.classList.toggle("failed", kind === "failed");
    var box = found.querySelector("input[type=checkbox]");
    if (box) {
      box.disabled = kind === "ok" || kind === "waiting";
      if (box.disabled) box.checked = false;
    }
    countSelected();
  }

  // ---- one response ------------------------------------------------------------------------

  function fetchPanel(id) {
    return window
      .fetch(fragmentUrl(id), { credentials: "same-origin", headers: headers({ Accept: "text/html, */*;q=0.5" }) })
      .then(function (response) {
        if (!response.ok) return errorText(response).then(function (text) {
          throw new Error(text);
        });
        return response.text();
      });
  }

  function prefetch(id) {
    if (!id || cache[id] || decided[id]) return;
    fetchPanel(id)
      .then(function (html) {
        if (!decided[id]) cache[id] = html;
      })
      .catch(function () {
        /* fetched again when opened */
      });
  }

  function setLink(id, target) {
    var link = document.getElementById(id);
    if (!link) return;
    if (target) {
      link.href = reviewUrl + "?response=" + target;
      link.removeAttribute("aria-disabled");
    } else {
      link.href = "#";
      link.setAttribute("aria-disabled", "true");
    }
  }

  // The bar's forms and links follow the response shown (they work without script too).
  function updateBar() {
    var shown = article();
    var forms = { "approve-form": "approve", "reject-form": "reject", "bonus-form": "bonus" };
    Object.keys(forms).forEach(function (formId) {
      var form = document.getElementById(formId);
      if (form && shown) form.action = shown.getAttribute("data-" + forms[formId] + "-url");
    });
    setLink("previous", neighbour(-1));
    setLink("next", neighbour(1));
    setLink("skip", nextUndecided());
  }

  // What this page knows and the fragment may not yet: a decision waiting or sent.
  function showLocalState() {
    var shown = article();
    if (!shown) return;
    var id = Number(shown.getAttribute("data-response-id"));
    var badge = document.getElementById("review-status");
    var waiting = pending.some(function (entry) {
      return entry.id === id && entry.kind !== "bonus";
    });
    if (badge && decided[id]) {
      var word = decided[id] === "approve" ? "approved" : "rejected";
      badge.textContent = waiting ? word + " (waiting to be sent)" : word;
      badge.className = "badge " + (waiting ? "pending" : "status-" + word);
    }
  }

  function open(id, options) {
    if (!id) return;
    closeForms();
    var html = cache[id];
    delete cache[id];
    (html ? Promise.resolve(html) : fetchPanel(id))
      .then(function (fragment) {
        holder.innerHTML = fragment; // rendered by the server, autoescaped
        holder.hidden = false;
        doneNote.hidden = true;
        currentId = id;
        updateBar();
        showLocalState();
        window.history.replaceState(null, "", reviewUrl + "?response=" + id);
        var shown = article();
        if (shown && !(options && options.keepFocus)) shown.focus({ preventScroll: true });
        if (!(options && options.keepScroll)) {
          var top = oneByOne.getBoundingClientRect().top + window.scrollY;
          if (window.scrollY > top) window.scrollTo(0, top);
        }
        prefetch(nextUndecided());
      })
      .catch(function (error) {
        say("Response #" + id + " could not be opened: " + error.message, true);
      });
  }

  function showDone() {
    closeForms();
    holder.innerHTML = "";
    holder.hidden = true;
    currentId = null;
    doneNote.hidden = false;
    doneNote.focus();
    updateBar();
  }

  function shownId() {
    var shown = article();
    return shown ? Number(shown.getAttribute("data-response-id")) : currentId;
  }

  // The response before or after this one in the queue (the server's neighbours for one
  // that is not in the page's list).
  function neighbour(step) {
    var id = shownId();
    var at = order.indexOf(id);
    if (at < 0) {
      if (id === null) return step < 0 && order.length ? order[order.length - 1] : null;
      var shown = article();
      var value = shown ? shown.getAttribute(step < 0 ? "data-previous" : "data-next") : "";
      return value ? Number(value) : null;
    }
    var target = order[at + step];
    return target === undefined ? null : target;
  }

  // The next response without a decision after this one, going round to those skipped.
  function nextUndecided() {
    var current = shownId();
    var at = order.indexOf(current);
    for (var step = 1; step <= order.length; step += 1) {
      var id = order[(at + step) % order.length];
      if (!decided[id] && id !== current) return id;
    }
    return null;
  }

  // ---- decisions ---------------------------------------------------------------------------

  var WORDS = {
    approve: ["Approving", "Approved", "approve", "Approve"],
    reject: ["Rejecting", "Rejected", "reject", "Reject"],
    bonus: ["Paying a bonus to", "Bonus paid to", "pay a bonus to", "Bonus to"]
  };

  function decide(kind, body) {
    var shown = article();
    if (!shown) return;
    var id = Number(shown.getAttribute("data-response-id"));
    if (kind !== "bonus") {
      var status = shown.getAttribute("data-status");
      if (decided[id] || status !== "submitted") {
        say("Response #" + id + " is " + (decided[id] ? "decided" : status) + " already.");
        return;
      }
      decided[id] = kind;
    }
    if (kind === "bonus") {
      // One token per bonus decision: sending it again (after a network error or a 503)
      // answers the bonus already recorded, never a second payment.
      body.token = newToken();
    }
    var entry = {
      id: id,
      kind: kind,
      url: shown.getAttribute("data-" + kind + "-url"),
      body: body,
      due: Date.now() + DELAY
    };
    entry.timer = window.setTimeout(function () {
      send(entry);
    }, DELAY);
    pending.push(entry);
    var said = WORDS[kind][3] + " #" + id + (kind === "bonus" ? ": $" + body.amount : "");
    entry.toast = toast(said, "", {
      spoken: ", sent in " + Math.round(DELAY / 1000) + " seconds unless undone with u.",
      countdown: true,
      button: "Undo (u)",
      onClick: function () {
        undo(entry);
      }
    });
    showPending();
    if (kind === "bonus") return;
    markRow(id, WORDS[kind][1].toLowerCase() + " (waiting)", "waiting");
    var next = nextUndecided();
    if (next) open(next);
    else showDone();
  }

  function send(entry) {
    if (entry.sent || entry.undone) return;
    entry.sent = true;
    window.clearTimeout(entry.timer);
    pending = pending.filter(function (other) {
      return other !== entry;
    });
    if (entry.toast) entry.toast.remove();
    showPending();
    delete cache[entry.id];
    var request = window.fetch(entry.url, {
      method: "POST",
      credentials: "same-origin",
      keepalive: true, // sent even if the page is being left
      headers: headers({ "Content-Type": "application/json", Accept: "application/json" }),
      body: JSON.stringify(entry.body)
    });
    request
      .then(function (response) {
        if (response.ok) return null;
        return errorText(response);
      }, function () {
        if (entry.kind === "bonus") {
          return "the network failed before an answer came; the bonus may be paid already. " +
            "Reload the response to see its bonuses before paying it again.";
        }
        return "it could not be sent (network); decide it again.";
      })
      .then(function (problem) {
        if (problem === null) {
          say(WORDS[entry.kind][1] + " response #" + entry.id + ".");
          if (entry.kind !== "bonus") {
            bump("count-submitted", -1);
            bump(entry.kind === "approve" ? "count-approved" : "count-rejected", 1);
            markRow(entry.id, WORDS[entry.kind][1].toLowerCase(), "ok");
          }
        } else {
          if (entry.kind !== "bonus") {
            delete decided[entry.id];
            markRow(entry.id, "not " + WORDS[entry.kind][1].toLowerCase() + ": " + problem, "failed");
          }
          say("Could not " + WORDS[entry.kind][2] + " response #" + entry.id + ": " + problem, true);
        }
        if (shownId() === entry.id) open(entry.id, { keepFocus: true, keepScroll: true });
      });
  }

  function undo(entry) {
    var target = entry || pending[pending.length - 1];
    if (!target || target.sent || target.undone) {
      say("Nothing to undo: every decision has been sent.");
      return;
    }
    target.undone = true;
    window.clearTimeout(target.timer);
    pending = pending.filter(function (other) {
      return other !== target;
    });
    if (target.toast) target.toast.remove();
    showPending();
    say("Undone: " + WORDS[target.kind][3].toLowerCase() + " #" + target.id + " (not sent).");
    if (target.kind !== "bonus") {
      delete decided[target.id];
      markRow(target.id, "submitted", "");
    }
    if (listView.hidden) open(target.id);
  }

  // Waiting decisions are sent when the page is left (pagehide), and only then: switching
  // tabs, or opening an item's image in a new tab, keeps them waiting (and undoable).
  function flush() {
    pending.slice().forEach(send);
  }
  window.addEventListener("pagehide", flush);

  function newToken() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  // ---- the reject and bonus forms ------------------------------------------------------------

  function formOpen(form) {
    return form && !form.hidden;
  }

  function closeForms() {
    [rejectForm, bonusForm].forEach(function (form) {
      if (!form || form.hidden) return;
      form.hidden = true;
      var opener = document.getElementById(form === rejectForm ? "reject" : "bonus");
      if (opener) opener.setAttribute("aria-expanded", "false");
    });
  }

  function canDecide() {
    var shown = article();
    if (!shown) return false;
    var id = Number(shown.getAttribute("data-response-id"));
    if (decided[id] || shown.getAttribute("data-status") !== "submitted") {
      say("Response #" + id + " is " + (decided[id] ? "decided" : shown.getAttribute("data-status")) + " already.");
      return false;
    }
    return true;
  }

  function showError(id, text) {
    var element = document.getElementById(id);
    element.textContent = text;
    element.hidden = !text;
  }

  function openReject() {
    if (!canDecide()) return;
    closeForms();
    rejectForm.hidden = false;
    document.getElementById("reject").setAttribute("aria-expanded", "true");
    showError("reject-error", "");
    typed.value = "";
    var first = rejectForm.querySelector("input[type=radio]");
    first.checked = true;
    first.focus();
  }

  function choose(key) {
    var radio = rejectForm.querySelector('input[type=radio][data-key="' + key + '"]');
    if (!radio) return false;
    radio.checked = true;
    if (radio === typedChoice) typed.focus();
    else radio.focus();
    return true;
  }

  rejectForm.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      closeForms();
      event.preventDefault();
      return;
    }
    if (event.target === typed) {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        rejectForm.requestSubmit();
      }
      return;
    }
    if (/^[1-9]$/.test(event.key) && !event.ctrlKey && !event.metaKey && !event.altKey) {
      if (choose(event.key)) event.preventDefault();
    } else if (event.key === "Enter" && event.target.type === "radio") {
      event.preventDefault();
      rejectForm.requestSubmit();
    }
  });
  typed.addEventListener("input", function () {
    typedChoice.checked = true;
  });
  typed.addEventListener("focus", function () {
    typedChoice.checked = true;
  });
  rejectForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var chosen = rejectForm.querySelector("input[type=radio]:checked");
    var feedback = chosen && chosen !== typedChoice ? chosen.value : typed.value.trim();
    if (!feedback) {
      showError("reject-error", "Pick a reason, or type one: the worker sees it.");
      typed.focus();
      return;
    }
    closeForms();
    decide("reject", { feedback: feedback });
  });
  document.getElementById("reject-cancel").addEventListener("click", closeForms);

  function openBonus() {
    if (!article()) return;
    closeForms();
    bonusForm.hidden = false;
    document.getElementById("bonus").setAttribute("aria-expanded", "true");
    showError("bonus-error", "");
    document.getElementById("bonus-amount").focus();
  }

  bonusForm.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      closeForms();
      event.preventDefault();
    }
  });
  bonusForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var amount = document.getElementById("bonus-amount").value.trim();
    var reason = document.getElementById("bonus-reason").value.trim();
    if (!/^[0-9]+(\.[0-9]{1,2})?$/.test(amount) || Number(amount) <= 0) {
      showError("bonus-error", "Give an amount in dollars, such as 0.25.");
      document.getElementById("bonus-amount").focus();
      return;
    }
    if (!reason) {
      showError("bonus-error", "Say why: the worker sees the reason.");
      document.getElementById("bonus-reason").focus();
      return;
    }
    closeForms();
    decide("bonus", { amount: amount, reason: reason });
    document.getElementById("bonus-amount").value = "";
    document.getElementById("bonus-reason").value = "";
    var shown = article();
    if (shown) shown.focus({ preventScroll: true });
  });
  document.getElementById("bonus-cancel").addEventListener("click", closeForms);

  // ---- the bar's buttons and links -----------------------------------------------------------

  document.getElementById("approve-form").addEventListener("submit", function (event) {
    event.preventDefault();
    if (canDecide()) decide("approve", {});
  });
  document.getElementById("reject").addEventListener("click", openReject);
  document.getElementById("bonus").addEventListener("click", openBonus);

  function go(target) {
    if (target) open(target);
    else say("That is the end of the queue.");
  }
  [["previous", function () {
    return neighbour(-1);
  }], ["next", function () {
    return neighbour(1);
  }], ["skip", nextUndecided]].forEach(function (pair) {
    document.getElementById(pair[0]).addEventListener("click", function (event) {
      event.preventDefault();
      go(pair[1]());
    });
  });

  // ---- keys ----------------------------------------------------------------------------------

  var TEXT_INPUT = /^(text|search|email|url|tel|password|number|date|time|datetime-local|month|week)$/;

  function typing(target) {
    if (!target || !target.tagName) return false;
    if (target.isContentEditable) return true;
    var tag = target.tagName;
    return tag === "TEXTAREA" || tag === "SELECT" || (tag === "INPUT" && TEXT_INPUT.test(target.type || "text"));
  }

  function toggleHelp() {
    if (help.open) help.close();
    else help.showModal();
  }
  document.getElementById("help-button").addEventListener("click", toggleHelp);

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.isComposing) return;
    var target = event.target;
    if (help.open) {
      if (event.key === "?") {
        help.close();
        event.preventDefault();
      }
      return;
    }
    if (formOpen(rejectForm) && rejectForm.contains(target)) return; // its own keys
    if (formOpen(bonusForm) && bonusForm.contains(target)) return;
    if (typing(target)) return;
    var inQueue = !oneByOne.hidden;
    var key = event.key;
    var handled = true;
    if ((event.ctrlKey || event.metaKey) && !event.altKey && (key === "z" || key === "Z")) {
      if (inQueue && !event.shiftKey) undo();
      else handled = false;
    } else if (event.ctrlKey || event.metaKey || event.altKey) {
      handled = false;
    } else if (key === "?") {
      toggleHelp();
    } else if (!inQueue) {
      handled = false;
    } else if (formOpen(rejectForm) && /^[1-9]$/.test(key)) {
      handled = choose(key);
    } else if (key === "Escape") {
      handled = formOpen(rejectForm) || formOpen(bonusForm);
      closeForms();
    } else if (key === "a") {
      if (canDecide()) decide("approve", {});
    } else if (key === "r") {
      openReject();
    } else if (key === "b") {
      openBonus();
    } else if (key === "s") {
      go(nextUndecided());
    } else if (key === "j" || key === "ArrowRight") {
      go(neighbour(1));
    } else if (key === "k" || key === "ArrowLeft") {
      go(neighbour(-1));
    } else if (key === "u") {
      undo();
    } else {
      handled = false;
    }
    if (handled) event.preventDefault();
  });

  // ---- views ---------------------------------------------------------------------------------

  function showView(list) {
    oneByOne.hidden = list;
    listView.hidden = !list;
    var one = document.getElementById("view-one");
    var all = document.getElementById("view-list");
    one.classList.toggle("secondary", list);
    all.classList.toggle("secondary", !list);
    if (list) {
      all.setAttribute("aria-current", "page");
      one.removeAttribute("aria-current");
    } else {
      one.setAttribute("aria-current", "page");
      all.removeAttribute("aria-current");
    }
    closeForms();
    var query = list ? "?view=list" : currentId ? "?response=" + currentId : "";
    window.history.replaceState(null, "", reviewUrl + query);
  }
  document.getElementById("view-one").addEventListener("click", function (event) {
    event.preventDefault();
    showView(false);
  });
  document.getElementById("view-list").addEventListener("click", function (event) {
    event.preventDefault();
    showView(true);
  });

  // ---- the list: approve exactly what is ticked ----------------------------------------------

  var bulkForm = document.getElementById("bulk-form");
  var selectAll = document.getElementById("select-all");
  var bulkButton = document.getElementById("approve-selected");

  function boxes() {
    return Array.prototype.slice.call(document.querySelectorAll('#queue-table tbody input[name="response_ids"]'));
  }

  function countSelected() {
    if (!bulkButton) return;
    var ticked = boxes().filter(function (box) {
      return box.checked && !box.disabled;
    }).length;
    document.getElementById("selected-count").textContent = String(ticked);
    bulkButton.disabled = ticked === 0;
  }

  if (bulkForm) {
    countSelected();
    bulkForm.addEventListener("change", function (event) {
      if (event.target === selectAll) {
        boxes().forEach(function (box) {
          if (!box.disabled) box.checked = selectAll.checked;
        });
      }
      countSelected();
    });
    bulkForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var ids = boxes()
        .filter(function (box) {
          return box.checked && !box.disabled;
        })
        .map(function (box) {
          return Number(box.value);
        });
      if (!ids.length) return;
      bulkButton.disabled = true;
      window
        .fetch(selectedUrl, {
          method: "POST",
          credentials: "same-origin",
          headers: headers({ "Content-Type": "application/json", Accept: "application/json" }),
          body: JSON.stringify({ response_ids: ids })
        })
        .then(function (response) {
          if (!response.ok) return errorText(response).then(function (text) {
            throw new Error(text);
          });
          return response.json();
        })
        .then(function (body) {
          var approved = 0;
          var refused = [];
          body.results.forEach(function (result) {
            delete cache[result.response];
            if (result.approved) {
              approved += 1;
              decided[result.response] = "approve";
              bump("count-submitted", -1);
              bump("count-approved", 1);
              markRow(result.response, "approved", "ok");
            } else {
              var why = result.error ? result.error.message : "not approved";
              refused.push("#" + result.response + ": " + why);
              if (result.status && result.status !== "submitted") decided[result.response] = "approve";
              markRow(result.response, (result.status || "not found") + ": " + why, "failed");
            }
          });
          if (selectAll) selectAll.checked = false;
          say("Approved " + approved + " of " + body.results.length + " selected.");
          if (refused.length) say("Not approved: " + refused.join("; "), true);
        })
        .catch(function (error) {
          say("Nothing was approved: " + error.message, true);
        })
        .then(countSelected);
    });
  }

  // ---- start ---------------------------------------------------------------------------------

  currentId = shownId();
  updateBar();
  if (!listView.hidden || !article()) return;
  prefetch(nextUndecided());
})();
