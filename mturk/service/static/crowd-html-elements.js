/*
 * A stand-in for MTurk's crowd-html-elements.js, served by the local MTurk service's task
 * content origin (task pages' references to Amazon's copy are rewritten to this file). It
 * needs no network and no framework: each crowd element becomes plain HTML (native inputs,
 * labels, <details>), usable with the keyboard, styled by one small injected stylesheet.
 *
 * It provides exactly the elements of the ELEMENTS table below; mturk/crowd.py KNOWN_ELEMENTS
 * lists the same names (a test checks), and publishing a page that loads this script and uses
 * any other crowd-* element is refused, naming it.
 *
 * What <crowd-form> submits, as MTurk's does: one field "taskAnswers" holding a JSON array of
 * one object, whose keys are the elements' names (shapes from AWS's Crowd HTML Elements
 * reference):
 *   crowd-input name=X              "X": "text"        (left out while empty, as AWS documents)
 *   crowd-text-area name=X          "X": "text\nmore"
 *   crowd-checkbox name=X value=V   "X": {"V": true|false}   (value defaults to "on"; boxes
 *                                   sharing a name add their values to one object)
 *   crowd-radio-button name=X value=V  "X": {"V": true|false}  (in a crowd-radio-group exactly
 *                                   one button of the group is checked; buttons sharing a name
 *                                   outside a group are exclusive among themselves)
 *   crowd-classifier name=X         "X": {"label": "Cat"}
 *   crowd-image-classifier name=X   "X": {"label": "Cat"} (+ "workerComment": "..." when its
 *                                   <worker-comment> box was filled in)
 *   crowd-classifier-multi-select name=X  "X": {"labels": ["Cat", "Dog"]}
 *   crowd-radio-group, crowd-instructions, crowd-alert, crowd-button: no answer of their own.
 * Native controls inside the form answer too: a lone checkbox {"on": checked}, a radio group
 * its checked value, a checkbox group (2+ sharing a name) or a <select multiple> the list of
 * its values, anything else its value.
 *
 * <crowd-form answer-format="flatten-objects"> (the attribute MTurk's requester templates
 * carry) sends each answer as a field of its own instead, nested keys joined by dots, as the
 * Answer.<name> columns of MTurk's results CSV show: "X.label" = "Cat", "X.V" = "true"; a list
 * sends one field per value under the same name; nothing is sent as "taskAnswers".
 *
 * Attributes honoured: crowd-input label, name, type, value, placeholder, required, disabled,
 * max-length, min-length, auto-focus, allowed-pattern, auto-validate, error-message;
 * crowd-text-area the same plus rows and char-counter; crowd-checkbox and crowd-radio-button
 * name, value, checked, disabled, required; the classifiers categories (a JSON array, or the
 * single-quoted ['A', 'B'] form AWS's samples use), header, name, src (image), and the regions
 * <classification-target>, <short-instructions>, <full-instructions header>, <worker-comment
 * header link-text placeholder>, exclusion-category (multi-select); crowd-instructions
 * link-text, link-type and the regions <short-summary>, <detailed-instructions>,
 * <positive-example>, <negative-example>; crowd-form answer-format and its own
 * <short-instructions> and <full-instructions> (shown as a panel on top); crowd-alert type
 * (info, success, warning, error) and dismissible; crowd-button form-action (submit, reset),
 * href, target, variant, disabled.
 * A classifier is answered with the mouse, the arrow keys, or the number keys 1-9.
 */
(function () {
  "use strict";

  var widgets = [];  // crowd elements that answer: {root: Element, contribute: function}
  var sequence = 0;

  function uid(kind) {
    sequence += 1;
    return "crowd-" + kind + "-" + sequence;
  }

  function attr(element, name, fallback) {
    var value = element.getAttribute(name);
    return value === null ? fallback : value;
  }

  function flag(element, name) {
    var value = element.getAttribute(name);
    return value !== null && value.toLowerCase() !== "false";
  }

  function make(tagName, className, text) {
    var element = document.createElement(tagName);
    if (className) element.className = className;
    if (text !== undefined) element.textContent = text;
    return element;
  }

  function moveChildren(from, to) {
    while (from.firstChild) to.appendChild(from.firstChild);
    return to;
  }

  // id, class and style (the requester's hooks) carried over to the element that replaces one.
  function keepHooks(from, to) {
    ["id", "class", "style", "title"].forEach(function (name) {
      var value = from.getAttribute(name);
      if (value === null) return;
      if (name === "class") to.className = (to.className + " " + value).trim();
      else to.setAttribute(name, value);
    });
    return to;
  }

  function replace(element, tagName) {
    var native = document.createElement(tagName);
    Array.prototype.forEach.call(element.attributes, function (attribute) {
      native.setAttribute(attribute.name, attribute.value);
    });
    moveChildren(element, native);
    element.parentNode.replaceChild(native, element);
    return native;
  }

  function swap(element, replacement) {
    element.parentNode.replaceChild(replacement, element);
    return replacement;
  }

  function answering(root, contribute) {
    widgets.push({ root: root, contribute: contribute });
  }

  // The object under answers[name], made when missing (no prototype: names are the page's).
  function objectAt(answers, name) {
    var found = answers[name];
    if (!found || typeof found !== "object" || Array.isArray(found)) {
      found = answers[name] = Object.create(null);
    }
    return found;
  }

  // A region child such as <classification-target>: a direct child first, else any (unless
  // only a direct child will do).
  function region(element, tagName, directOnly) {
    var children = element.children;
    for (var i = 0; i < children.length; i += 1) {
      if (children[i].tagName.toLowerCase() === tagName) return children[i];
    }
    return directOnly ? null : element.querySelector(tagName);
  }

  // categories="['Cat', 'Dog']" (AWS's samples) or categories='["Cat", "Dog"]' (JSON).
  function stringList(text) {
    try {
      var parsed = JSON.parse(text);
      if (Array.isArray(parsed)) return parsed.map(String);
    } catch (ignored) { /* the single-quoted form */ }
    var items = [];
    var quoted = /'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"/g;
    var match;
    while ((match = quoted.exec(text)) !== null) {
      var raw = match[1] !== undefined ? match[1] : match[2];
      items.push(raw.replace(/\\(.)/g, "$1"));
    }
    return items;
  }

  // ---- stylesheet -------------------------------------------------------------------------

  var STYLE = [
    ".crowd-sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);",
    "white-space:nowrap}",
    ".crowd-field{display:block;margin:.75rem 0;max-width:40rem}",
    ".crowd-field-label{display:block;font-weight:600;font-size:.9rem;margin-bottom:.3rem;",
    "color:#16191f}",
    ".crowd-control{box-sizing:border-box;width:100%;max-width:40rem;padding:.5rem .6rem;",
    "border:1px solid #7d8998;border-radius:4px;font:inherit;background:#fff;color:#16191f}",
    "textarea.crowd-control{min-height:4.5rem;resize:vertical}",
    ".crowd-control:focus,.crowd-choice input:focus-visible,.crowd-check input:focus-visible,",
    ".crowd-radio input:focus-visible,.crowd-classifier summary:focus-visible,",
    ".crowd-instructions summary:focus-visible,.crowd-button:focus-visible,",
    ".crowd-alert-dismiss:focus-visible{outline:2px solid #0972d3;outline-offset:2px}",
    ".crowd-control:disabled{background:#f2f3f3;color:#5f6b7a}",
    ".crowd-counter{display:block;text-align:right;font-size:.8rem;color:#5f6b7a}",
    ".crowd-check,.crowd-radio{display:flex;align-items:flex-start;gap:.5rem;margin:.4rem 0;",
    "cursor:pointer;line-height:1.4}",
    ".crowd-check input,.crowd-radio input,.crowd-choice input{flex:none;width:1.1rem;",
    "height:1.1rem;margin:.15rem 0 0;accent-color:#0972d3;cursor:pointer}",
    ".crowd-radio-group{margin:.5rem 0}",
    ".crowd-classifier{display:grid;grid-template-columns:minmax(0,1fr);gap:1rem 1.5rem;",
    "margin:1rem 0;align-items:start}",
    "@media (min-width:800px){.crowd-classifier.crowd-with-side{grid-template-columns:",
    "minmax(13rem,1fr) minmax(0,2.6fr)}.crowd-with-side .crowd-side{grid-row:1}}",
    ".crowd-side{background:#f4f4f4;border-radius:8px;padding:1rem 1.1rem;font-size:.95rem}",
    ".crowd-side h2{font-size:1rem;margin:0 0 .5rem}",
    ".crowd-side details{margin-top:.75rem}",
    "form>.crowd-side{margin:0 0 1rem;max-width:50rem}",
    ".crowd-side summary,.crowd-comment summary,.crowd-instructions>summary{cursor:pointer;",
    "color:#0972d3;text-decoration:underline}",
    ".crowd-full-body{margin-top:.5rem;padding-top:.5rem;border-top:1px solid #d5dbdb}",
    ".crowd-header{font-size:1.25rem;line-height:1.3;margin:0 0 .75rem;color:#16191f}",
    ".crowd-target{border:1px solid #d5dbdb;border-radius:8px;padding:1rem;margin:0 0 1rem;",
    "background:#fff;overflow-wrap:anywhere}",
    ".crowd-target img{display:block;max-width:100%;max-height:60vh;margin:0 auto}",
    ".crowd-categories{border:0;margin:0;padding:0;min-width:0;display:grid;gap:.5rem;",
    "grid-template-columns:repeat(auto-fill,minmax(11rem,1fr))}",
    ".crowd-choice{display:flex;align-items:center;gap:.6rem;padding:.6rem .75rem;",
    "border:1px solid #7d8998;border-radius:6px;background:#fff;cursor:pointer;",
    "line-height:1.3}",
    ".crowd-choice input{margin:0}",
    ".crowd-choice:hover{border-color:#0972d3}",
    ".crowd-choice.crowd-checked{border-color:#0972d3;background:#f0f7ff;",
    "box-shadow:inset 0 0 0 1px #0972d3}",
    ".crowd-key{flex:none;display:inline-flex;align-items:center;justify-content:center;",
    "min-width:1.3rem;height:1.3rem;border:1px solid #aab7b8;border-radius:3px;",
    "font-size:.75rem;color:#5f6b7a;background:#fafafa}",
    ".crowd-hint{font-size:.8rem;color:#5f6b7a;margin:.5rem 0 0}",
    ".crowd-comment{margin-top:.75rem}",
    ".crowd-instructions{margin:.75rem 0}",
    ".crowd-instructions.crowd-as-button>summary{display:inline-block;list-style:none;",
    "padding:.45rem 1rem;border:1px solid #0972d3;border-radius:4px;text-decoration:none;",
    "font-weight:600}",
    ".crowd-instructions.crowd-as-button>summary::-webkit-details-marker{display:none}",
    ".crowd-instructions-body{margin-top:.5rem;padding:1rem;border:1px solid #d5dbdb;",
    "border-radius:8px;background:#fff;max-width:50rem}",
    ".crowd-instructions-body h3{font-size:1rem;margin:1rem 0 .4rem}",
    ".crowd-instructions-body h3:first-child{margin-top:0}",
    ".crowd-instructions-body h4{font-size:.9rem;margin:.75rem 0 .3rem}",
    ".crowd-example-good{border-left:4px solid #037f0c;padding-left:.75rem}",
    ".crowd-example-bad{border-left:4px solid #d91515;padding-left:.75rem}",
    ".crowd-alert{display:flex;align-items:flex-start;gap:.75rem;margin:.75rem 0;",
    "padding:.7rem 1rem;border:1px solid;border-left-width:4px;border-radius:4px;",
    "line-height:1.4}",
    ".crowd-alert-body{flex:1;min-width:0}",
    ".crowd-alert-info{background:#f0f7ff;border-color:#0972d3;color:#0a2a4d}",
    ".crowd-alert-success{background:#f2fcf3;border-color:#037f0c;color:#1d4620}",
    ".crowd-alert-warning{background:#fffce9;border-color:#b08400;color:#4d3a00}",
    ".crowd-alert-error{background:#fff7f7;border-color:#d91515;color:#6b0f0f}",
    ".crowd-alert-dismiss{flex:none;border:0;background:none;color:inherit;cursor:pointer;",
    "font-size:1.3rem;line-height:1;padding:0 .25rem}",
    ".crowd-button{display:inline-block;padding:.45rem 1rem;border:1px solid #0972d3;",
    "border-radius:4px;background:#fff;color:#0972d3;font:inherit;font-weight:600;",
    "text-decoration:none;cursor:pointer}",
    ".crowd-button.crowd-primary,.crowd-submit{background:#ec7211;border-color:#ec7211;",
    "color:#fff}",
    ".crowd-button.crowd-link{border-color:transparent;background:none;",
    "text-decoration:underline}",
    ".crowd-submit{display:inline-block;margin-top:1rem;padding:.55rem 1.5rem;",
    "border:1px solid #ec7211;border-radius:4px;font:inherit;font-weight:700;cursor:pointer}",
    ".crowd-button:disabled,.crowd-submit:disabled{opacity:.5;cursor:not-allowed}",
    ".crowd-classifier,.crowd-alert,.crowd-instructions,.crowd-field,.crowd-check,",
    ".crowd-radio,.crowd-button,.crowd-submit,.crowd-control{font-family:system-ui,",
    "-apple-system,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,sans-serif}"
  ].join("");

  function injectStyle() {
    if (document.getElementById("crowd-html-elements-style")) return;
    var style = make("style");
    style.id = "crowd-html-elements-style";
    style.textContent = STYLE;
    var head = document.head || document.documentElement;
    head.insertBefore(style, head.firstChild);  // first: the page's own styles win
  }

  // ---- text fields --------------------------------------------------------------------------

  var FIELD_ONLY = {
    label: true, "max-length": true, "min-length": true, "auto-focus": true,
    "auto-validate": true, "allowed-pattern": true, "error-message": true,
    "char-counter": true, "max-rows": true, value: true
  };

  function textControl(element, tagName) {
    var control = make(tagName, "crowd-control");
    Array.prototype.forEach.call(element.attributes, function (attribute) {
      if (!FIELD_ONLY[attribute.name]) control.setAttribute(attribute.name, attribute.value);
    });
    control.className = ("crowd-control " + attr(element, "class", "")).trim();
    if (element.hasAttribute("max-length")) control.maxLength = +element.getAttribute("max-length");
    if (element.hasAttribute("min-length")) control.minLength = +element.getAttribute("min-length");
    if (flag(element, "auto-focus")) control.autofocus = true;
    if (element.hasAttribute("value")) control.defaultValue = element.getAttribute("value");
    else if (tagName === "textarea") control.defaultValue = element.textContent;
    control.setAttribute("data-crowd-control", "");
    var allowed = element.getAttribute("allowed-pattern");
    if (allowed && flag(element, "auto-validate")) keepOnly(control, allowed);
    var message = element.getAttribute("error-message");
    if (message && flag(element, "auto-validate")) {
      control.addEventListener("invalid", function () { control.setCustomValidity(message); });
      control.addEventListener("input", function () { control.setCustomValidity(""); });
    }
    var label = element.getAttribute("label");
    var counting = tagName === "textarea" && flag(element, "char-counter");
    var root = control;
    if (label !== null || counting) {
      root = make(label !== null ? "label" : "span", "crowd-field");
      if (label !== null) root.appendChild(make("span", "crowd-field-label", label));
      root.appendChild(control);
    }
    if (counting) {
      var counter = make("span", "crowd-counter");
      counter.setAttribute("aria-live", "polite");
      var count = function () {
        var limit = control.maxLength > 0 ? "/" + control.maxLength : "";
        counter.textContent = control.value.length + limit;
      };
      control.addEventListener("input", count);
      count();
      root.appendChild(counter);
    }
    swap(element, root);
    return control;
  }

  // allowed-pattern: characters that do not match are dropped as the worker types.
  function keepOnly(control, pattern) {
    var one;
    try { one = new RegExp("^(?:" + pattern + ")$"); } catch (ignored) { return; }
    control.addEventListener("input", function () {
      var kept = Array.prototype.filter.call(control.value, function (ch) { return one.test(ch); });
      if (kept.length !== control.value.length) control.value = kept.join("");
    });
  }

  function upgradeInput(element) {
    var control = textControl(element, "input");
    answering(control, function (answers) {
      if (control.name && control.value !== "") answers[control.name] = control.value;
    });
  }

  function upgradeTextArea(element) {
    var control = textControl(element, "textarea");
    answering(control, function (answers) {
      if (control.name) answers[control.name] = control.value;
    });
  }

  // ---- buttons ------------------------------------------------------------------------------

  function upgradeButton(element) {
    var action = attr(element, "form-action", "").toLowerCase();
    var href = element.getAttribute("href");
    var button;
    if (href !== null && action !== "submit" && action !== "reset") {
      button = replace(element, "a");
    } else {
      button = replace(element, "button");
      button.type = action === "submit" || action === "reset" ? action : "button";
      if (flag(button, "loading")) button.disabled = true;
    }
    var variant = attr(button, "variant", "normal").toLowerCase();
    button.className = ("crowd-button crowd-" + variant + " " + button.className).trim();
  }

  // ---- checkboxes and radio buttons ----------------------------------------------------------

  function choice(element, type, nativeName, className) {
    var label = keepHooks(element, make("label", className));
    var input = make("input");
    input.type = type;
    input.name = nativeName;
    input.value = attr(element, "value", "on");
    input.checked = element.hasAttribute("checked");
    input.disabled = element.hasAttribute("disabled");
    input.required = element.hasAttribute("required");
    input.setAttribute("data-crowd-control", "");
    if (label.id) {  // a <label for=...> elsewhere points at the control itself
      input.id = label.id;
      label.removeAttribute("id");
    }
    label.appendChild(input);
    label.appendChild(moveChildren(element, make("span", "crowd-choice-text")));
    swap(element, label);
    return input;
  }

  function upgradeCheckbox(element) {
    var name = attr(element, "name", "");
    var input = choice(element, "checkbox", name, "crowd-check");
    answering(input, function (answers) {
      if (name) objectAt(answers, name)[input.value] = input.checked;
    });
  }

  function radioButton(element, nativeName) {
    var name = attr(element, "name", "");
    var input = choice(element, "radio", nativeName, "crowd-radio");
    answering(input, function (answers) {
      if (name) objectAt(answers, name)[input.value] = input.checked;
    });
    return input;
  }

  function upgradeRadioGroup(element) {
    var group = keepHooks(element, make("div", "crowd-radio-group"));
    group.setAttribute("role", "radiogroup");
    var nativeName = uid("radio-group");
    var required = element.hasAttribute("required");
    moveChildren(element, group);
    swap(element, group);
    group.querySelectorAll("crowd-radio-button").forEach(function (button) {
      var input = radioButton(button, nativeName);
      if (required) input.required = true;
    });
  }

  function upgradeRadioButton(element) {  // outside a group: exclusive with its namesakes
    radioButton(element, "crowd-radio:" + attr(element, "name", ""));
  }

  // ---- classifiers ----------------------------------------------------------------------------

  var classifiers = [];

  // <short-instructions> and <full-instructions> as a panel (null when there are none).
  function sidePanel(element, directOnly) {
    var short = region(element, "short-instructions", directOnly);
    var full = region(element, "full-instructions", directOnly);
    if (!short && !full) return null;
    var side = make("aside", "crowd-side");
    side.setAttribute("aria-label", "Instructions");
    if (short) {
      side.appendChild(make("h2", "", "Instructions"));
      side.appendChild(moveChildren(short, make("div", "crowd-short")));
    }
    if (full) {
      var details = make("details", "crowd-full");
      details.appendChild(make("summary", "", "View full instructions"));
      var body = make("div", "crowd-full-body");
      body.appendChild(make("h3", "", attr(full, "header", "Instructions")));
      details.appendChild(moveChildren(full, body));
      side.appendChild(details);
    }
    [short, full].forEach(function (used) { if (used) used.parentNode.removeChild(used); });
    return side;
  }

  function commentBox(element, main) {
    var comment = region(element, "worker-comment");
    if (!comment) return null;
    var details = make("details", "crowd-comment");
    details.appendChild(make("summary", "", attr(comment, "link-text", "Add a comment")));
    var field = make("label", "crowd-field");
    field.appendChild(make("span", "crowd-field-label", attr(comment, "header", "Add a comment")));
    var help = moveChildren(comment, make("span", "crowd-hint"));
    if (help.textContent.trim()) field.appendChild(help);
    var box = make("textarea", "crowd-control");
    box.placeholder = attr(comment, "placeholder", "");
    box.setAttribute("data-crowd-control", "");
    field.appendChild(box);
    details.appendChild(field);
    main.appendChild(details);
    return box;
  }

  // kind: "single" (crowd-classifier), "image" (crowd-image-classifier), "multi" (multi-select)
  function classifier(element, kind) {
    var name = attr(element, "name", "");
    var header = attr(element, "header", "");
    var categories = stringList(attr(element, "categories", "[]"));
    var root = keepHooks(element, make("div", "crowd-classifier"));
    var main = make("section", "crowd-task");
    var headerId = uid("header");
    var heading = make("h2", "crowd-header", header);
    heading.id = headerId;
    main.appendChild(heading);
    var target = make("div", "crowd-target");
    if (kind === "image") {
      var image = make("img");
      image.src = attr(element, "src", "");
      image.alt = header;
      target.appendChild(image);
    } else {
      var given = region(element, "classification-target");
      if (given) moveChildren(given, target);
    }
    if (target.firstChild) main.appendChild(target);

    var fieldset = make("fieldset", "crowd-categories");
    fieldset.setAttribute("aria-labelledby", headerId);
    var nativeName = uid("category");
    var inputs = [];
    var exclusion = null;
    var options = categories.slice();
    if (kind === "multi") {
      var excluded = /text\s*:\s*(['"])((?:(?!\1).)*)\1/.exec(attr(element, "exclusion-category", ""));
      if (excluded) {
        exclusion = excluded[2];
        options.push(exclusion);
      }
    }
    options.forEach(function (category, index) {
      var label = make("label", "crowd-choice");
      var input = make("input");
      input.type = kind === "multi" ? "checkbox" : "radio";
      input.name = nativeName;
      input.value = category;
      input.setAttribute("data-crowd-control", "");
      if (kind !== "multi") input.required = true;
      input.setAttribute("aria-label", category);  // its name, without the key's digit
      label.appendChild(input);
      if (index < 9) {
        input.setAttribute("aria-keyshortcuts", String(index + 1));
        var key = make("span", "crowd-key", String(index + 1));
        key.setAttribute("aria-hidden", "true");
        label.appendChild(key);
      }
      label.appendChild(make("span", "crowd-choice-text", category));
      fieldset.appendChild(label);
      inputs.push(input);
    });
    main.appendChild(fieldset);
    var hint = make("p", "crowd-hint", kind === "multi"
      ? "Choose all that apply (keys 1-9 toggle)."
      : "Choose one (arrow keys or 1-9).");
    main.appendChild(hint);
    var comment = commentBox(element, main);

    root.appendChild(main);
    var side = sidePanel(element, false);
    if (side) {
      root.appendChild(side);
      root.className += " crowd-with-side";
    }
    swap(element, root);

    function refresh() {
      inputs.forEach(function (input) {
        input.parentNode.classList.toggle("crowd-checked", input.checked);
      });
      if (kind === "multi" && inputs.length) {
        var any = inputs.some(function (input) { return input.checked; });
        inputs[0].setCustomValidity(any ? "" : "Choose at least one category.");
      }
    }
    inputs.forEach(function (input) {
      input.addEventListener("change", function () {
        if (kind === "multi" && input.checked && exclusion !== null) {
          inputs.forEach(function (other) {  // "none of the above" excludes the rest
            if (other !== input && (input.value === exclusion || other.value === exclusion)) {
              other.checked = false;
            }
          });
        }
        refresh();
      });
    });
    refresh();
    classifiers.push({ root: root, inputs: inputs, refresh: refresh });

    answering(root, function (answers) {
      if (!name) return;
      var checked = inputs.filter(function (input) { return input.checked; })
        .map(function (input) { return input.value; });
      if (kind === "multi") {
        objectAt(answers, name).labels = checked;
        return;
      }
      if (!checked.length) return;
      var answer = objectAt(answers, name);
      answer.label = checked[0];
      if (comment && comment.value.trim()) answer.workerComment = comment.value;
    });
  }

  function upgradeClassifier(element) { classifier(element, "single"); }
  function upgradeImageClassifier(element) { classifier(element, "image"); }
  function upgradeMultiSelect(element) { classifier(element, "multi"); }

  // Number keys pick a category of the classifier holding the focus, or of the only one.
  function classifierKeys(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || !/^[1-9]$/.test(event.key)) return;
    var focused = document.activeElement;
    var tag = focused ? focused.tagName.toLowerCase() : "";
    if (tag === "textarea" || tag === "select" || (focused && focused.isContentEditable)) return;
    if (tag === "input" && !/^(radio|checkbox|button|submit|reset)$/.test(focused.type)) return;
    var found = classifiers.filter(function (c) { return focused && c.root.contains(focused); });
    if (!found.length && classifiers.length === 1) found = classifiers;
    if (found.length !== 1) return;
    var input = found[0].inputs[+event.key - 1];
    if (!input || input.disabled) return;
    event.preventDefault();
    if (input.type === "checkbox") input.checked = !input.checked;
    else input.checked = true;
    input.focus();
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }

  // ---- instructions and alerts ----------------------------------------------------------------

  function upgradeInstructions(element) {
    var details = keepHooks(element, make("details", "crowd-instructions"));
    if (attr(element, "link-type", "link").toLowerCase() === "button") {
      details.className += " crowd-as-button";
    }
    details.appendChild(make("summary", "", attr(element, "link-text", "Click for instructions")));
    var body = make("div", "crowd-instructions-body");
    var summary = element.querySelectorAll("short-summary");
    var detailed = element.querySelectorAll("detailed-instructions");
    var good = element.querySelectorAll("positive-example");
    var bad = element.querySelectorAll("negative-example");
    function section(title, nodes, className) {
      Array.prototype.forEach.call(nodes, function (node, index) {
        if (index === 0 && title) body.appendChild(make(title.tag, "", title.text));
        body.appendChild(moveChildren(node, make("div", className || "")));
      });
    }
    section({ tag: "h3", text: "Summary" }, summary);
    section({ tag: "h3", text: "Detailed Instructions" }, detailed);
    if (good.length || bad.length) body.appendChild(make("h3", "", "Examples"));
    section({ tag: "h4", text: "Good examples" }, good, "crowd-example-good");
    section({ tag: "h4", text: "Bad examples" }, bad, "crowd-example-bad");
    if (!body.firstChild) moveChildren(element, body);  // plain content, no regions
    details.appendChild(body);
    swap(element, details);
  }

  var ALERT_TYPES = { info: true, success: true, warning: true, error: true };

  function upgradeAlert(element) {
    var type = attr(element, "type", "info").toLowerCase();
    if (!ALERT_TYPES[type]) type = "info";
    var alert = keepHooks(element, make("div", "crowd-alert crowd-alert-" + type));
    alert.setAttribute("role", type === "error" || type === "warning" ? "alert" : "status");
    alert.appendChild(moveChildren(element, make("div", "crowd-alert-body")));
    if (flag(element, "dismissible")) {
      var close = make("button", "crowd-alert-dismiss", "\u00d7");
      close.type = "button";
      close.setAttribute("aria-label", "Dismiss");
      close.addEventListener("click", function () { alert.parentNode.removeChild(alert); });
      alert.appendChild(close);
    }
    swap(element, alert);
  }

  // ---- the form -------------------------------------------------------------------------------

  // Controls of which a form sends at most one per name, and controls it never sends.
  var ONE_PER_GROUP = { radio: true, submit: true };
  var NOT_SENT = { reset: true, button: true, image: true, fieldset: true, output: true };

  function nativeFields(form) {
    return Array.prototype.filter.call(form.elements, function (field) {
      return field.name && !NOT_SENT[field.type] && !field.hasAttribute("data-crowd-control");
    });
  }

  // Names the form can answer several values for, as Hitblocks reads a plain form: a
  // <select multiple>, or two or more controls sharing a name (a checkbox group); a radio
  // group or a group of submit buttons counts once.
  function multiValued(fields) {
    var counts = Object.create(null);  // no prototype: a field may be named "__proto__"
    var multi = Object.create(null);
    fields.forEach(function (field) {
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

  // The answer object: native controls (a lone checkbox is {"on": checked}, a radio group its
  // checked value, a multi-valued name the list of its values), then the crowd elements.
  function collect(form) {
    var answers = Object.create(null);
    var fields = nativeFields(form);
    var multi = multiValued(fields);
    Object.keys(multi).forEach(function (name) { answers[name] = []; });
    fields.forEach(function (field) {
      if (field.disabled || field.type === "submit") return;
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
    widgets.forEach(function (widget) {
      if (form.contains(widget.root)) widget.contribute(answers);
    });
    return answers;
  }

  function text(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  // answer-format="flatten-objects": [name, value] pairs, nested keys joined by dots.
  function flatten(value, prefix, pairs) {
    if (Array.isArray(value)) {
      value.forEach(function (item) { pairs.push([prefix, text(item)]); });
    } else if (value !== null && typeof value === "object") {
      Object.keys(value).forEach(function (key) {
        flatten(value[key], prefix ? prefix + "." + key : key, pairs);
      });
    } else {
      pairs.push([prefix, text(value)]);
    }
    return pairs;
  }

  function submit(form) {
    var query = new URLSearchParams(window.location.search);
    var answers = collect(form);
    var pairs = attr(form, "answer-format", "").toLowerCase() === "flatten-objects"
      ? flatten(answers, "", [])
      : [["taskAnswers", JSON.stringify([answers])]];
    var target = document.createElement("form");
    target.method = "post";
    target.action = (query.get("turkSubmitTo") || "") + "/mturk/externalSubmit";
    [["assignmentId", query.get("assignmentId") || ""]].concat(pairs).forEach(function (pair) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = pair[0];
      input.value = pair[1];
      target.appendChild(input);
    });
    document.body.appendChild(target);
    target.submit();
  }

  function upgradeForm(element) {
    var side = sidePanel(element, true);  // the form's own instructions, as a panel on top
    if (side) element.insertBefore(side, element.firstChild);
    var form = replace(element, "form");
    if (!form.querySelector("button[type=submit], input[type=submit]")) {
      var button = make("button", "crowd-submit", "Submit");
      button.type = "submit";
      form.appendChild(button);
    }
    var assignmentId = new URLSearchParams(window.location.search).get("assignmentId");
    if (!assignmentId || assignmentId === "ASSIGNMENT_ID_NOT_AVAILABLE") {
      form.querySelectorAll("button[type=submit], input[type=submit]").forEach(function (b) {
        b.disabled = true;
      });
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      submit(form);
    });
  }

  // The elements this stand-in provides, in the order they are upgraded (containers whose
  // children are crowd elements of their own come before those children; the form last).
  // mturk/crowd.py KNOWN_ELEMENTS lists exactly these names.
  var ELEMENTS = {
    "crowd-alert": upgradeAlert,
    "crowd-instructions": upgradeInstructions,
    "crowd-input": upgradeInput,
    "crowd-text-area": upgradeTextArea,
    "crowd-checkbox": upgradeCheckbox,
    "crowd-radio-group": upgradeRadioGroup,
    "crowd-radio-button": upgradeRadioButton,
    "crowd-classifier": upgradeClassifier,
    "crowd-classifier-multi-select": upgradeMultiSelect,
    "crowd-image-classifier": upgradeImageClassifier,
    "crowd-button": upgradeButton,
    "crowd-form": upgradeForm
  };

  function upgrade() {
    injectStyle();
    Object.keys(ELEMENTS).forEach(function (tagName) {
      Array.prototype.forEach.call(document.querySelectorAll(tagName), function (element) {
        if (element.isConnected) ELEMENTS[tagName](element);
      });
    });
    if (classifiers.length) document.addEventListener("keydown", classifierKeys);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", upgrade);
  } else {
    upgrade();
  }
})();
