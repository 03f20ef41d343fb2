/*
 * A small stand-in for MTurk's crowd-html-elements.js, served by the local MTurk service
 * (the worker site rewrites the script's address to this file). It supports <crowd-form>
 * with native inputs, <crowd-input>, <crowd-text-area> and <crowd-button>, and submits
 * what MTurk's crowd-form submits: a "taskAnswers" field holding a JSON array of one object.
 */
(function () {
  "use strict";

  function replace(element, tagName) {
    var native = document.createElement(tagName);
    Array.prototype.forEach.call(element.attributes, function (attribute) {
      native.setAttribute(attribute.name, attribute.value);
    });
    while (element.firstChild) native.appendChild(element.firstChild);
    element.parentNode.replaceChild(native, element);
    return native;
  }

  function collect(form) {
    var answers = {};
    Array.prototype.forEach.call(form.elements, function (field) {
      if (!field.name || field.disabled) return;
      if (field.type === "checkbox") {
        answers[field.name] = { on: field.checked };
      } else if (field.type === "radio") {
        if (field.checked) answers[field.name] = field.value;
      } else if (field.type !== "submit" && field.type !== "button") {
        answers[field.name] = field.value;
      }
    });
    return answers;
  }

  function submit(form) {
    var query = new URLSearchParams(window.location.search);
    var target = document.createElement("form");
    target.method = "post";
    target.action = (query.get("turkSubmitTo") || "") + "/mturk/externalSubmit";
    [["assignmentId", query.get("assignmentId") || ""],
     ["taskAnswers", JSON.stringify([collect(form)])]].forEach(function (pair) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = pair[0];
      input.value = pair[1];
      target.appendChild(input);
    });
    document.body.appendChild(target);
    target.submit();
  }

  function upgrade() {
    document.querySelectorAll("crowd-input").forEach(function (e) { replace(e, "input"); });
    document.querySelectorAll("crowd-text-area").forEach(function (e) { replace(e, "textarea"); });
    document.querySelectorAll("crowd-button").forEach(function (e) { replace(e, "button"); });
    document.querySelectorAll("crowd-form").forEach(function (element) {
      var form = replace(element, "form");
      if (!form.querySelector("button[form-action=submit], input[type=submit]")) {
        var button = document.createElement("button");
        button.type = "submit";
        button.textContent = "Submit";
        form.appendChild(button);
      }
      var assignmentId = new URLSearchParams(window.location.search).get("assignmentId");
      if (!assignmentId || assignmentId === "ASSIGNMENT_ID_NOT_AVAILABLE") {
        form.querySelectorAll("button, input[type=submit]").forEach(function (b) { b.disabled = true; });
      }
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        submit(form);
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", upgrade);
  } else {
    upgrade();
  }
})();
