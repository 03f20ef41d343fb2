/*
 * The console's pages, made a little better with JavaScript (every page works without):
 *
 * - A form with data-confirm asks before it is sent (revoking an API key, blocking a
 *   worker); cancelling a hitblock has a confirmation page of its own.
 * - window.hitblocksConsole.post(url, body): a JSON POST with the page's CSRF token in
 *   X-CSRFToken (from <meta name="csrf-token">), for the pages' scripts.
 * No dependencies, no inline script (the Content-Security-Policy allows none).
 */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": csrfToken(),
      },
      body: JSON.stringify(body || {}),
    });
  }

  window.hitblocksConsole = { csrfToken: csrfToken, post: post };

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });
})();
