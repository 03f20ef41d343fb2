/*
 * A small stand-in for MTurk's crowd-html-elements.js, served by the local MTurk service
 * (the worker site rewrites the script's address to this file). It supports <crowd-form>
 * with native inputs, <crowd-input>, <crowd-text-area> and <crowd-button>, and submits
 * what MTurk's crowd-form submits: a "taskAnswers" field holding a JSON array of one object.
 * A checkbox group (2+ sharing a name) and a <select multiple> answer a list of values.
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

  // Controls of which a form sends at most one per name, and controls it never sends.
  var ONE_PER_GROUP = { radio: true, submit: true };
  var NOT_SENT = { reset: true, button: true, image: true, fieldset: true, output: true };

  // Names the form can answer several values for, as Hitblocks reads a plain form: a
  // <select multiple>, or two or more controls sharing a name (a checkbox group); a radio
  // group or a group of submit buttons counts once.
  function multiValued(form) {
    var counts = Object.create(null);  // no prototype: a field may be named "__proto__"
    var multi = Object.create(null);
    Array.prototype.forEach.call(form.elements, function (field) {
      if (!field.name || NOT_SENT[field.type]) return;
      var count = counts[field.name] || (counts[field.name] = { independent: 0, groups: {} });
      if (ONE_PER_GROUP[field.type]) count.groups[field.type] = true;
      else count.independent += 1;
      if (field.type === "select-multiple") multi[field.name] = true;
    });
    Object.keys(counts).forEach(function (name) {
      var count = counts[name];
      if (count.independent + Object.keys(count.groups).length > 1) multi[name] = true;
    });
    return multi;
  }

  // The values one control sends: a checked checkbox its value, each selected option.
  function valuesOf(field) {
    if (field.type === "checkbox" || field.type === "radio") {
      return field.checked ? [field.value] : [];
    }
    if (field.type === "select-multiple") {
      return Array.prototype.filter.call(field.options, function (option) {
        return option.selected;
      }).map(function (option) { return option.value; });
    }
    return [field.value];
  }

  // MTurk's crowd-form answer object: a lone checkbox is {"on": checked}, a radio group its
  // checked value; a multi-valued name (checkbox group, select multiple) the list of its values.
  function collect(form) {
    var answers = Object.create(null);
    var multi = multiValued(form);
    Object.keys(multi).forEach(function (name) { answers[name] = []; });
    Array.prototype.forEach.call(form.elements, function (field) {
      if (!field.name || field.disabled || NOT_SENT[field.type] || field.type === "submit") return;
      if (multi[field.name]) {
        answers[field.name] = answers[field.name].concat(valuesOf(field));
      } else if (field.type === "checkbox") {
        answers[field.name] = { on: field.checked };
      } else if (field.type === "radio") {
        if (field.checked) answers[field.name] = field.value;
      } else {
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
