/*
 * A stand-in for Amazon's externalHIT_v1.js (https://s3.amazonaws.com/mturk-public/), served
 * by the local MTurk service's task content origin, which rewrites task pages' references to
 * Amazon's copy to this file, so that MTurk's own sample templates work with no internet.
 *
 * It offers the functions Amazon's script offers, with the same behaviour:
 *   turkGetParam(name, defaultValue)  a query-string parameter of the task page (decoded);
 *   turkGetSubmitToHost()             turkSubmitTo (decoded), or https://www.mturk.com;
 *   turkSetAssignmentID(form, button) fills the form's hidden assignmentId input from the
 *                                     query, disables the submit button in a preview
 *                                     (ASSIGNMENT_ID_NOT_AVAILABLE), and points the form
 *                                     ("mturk_form" by default) at turkSubmitTo +
 *                                     /mturk/externalSubmit.
 * Templates call turkSetAssignmentID() themselves, after the form, as Amazon's samples do.
 */

var TURK_DEFAULT_SUBMIT_HOST = "https://www.mturk.com";
var TURK_NOT_ACCEPTED = "ASSIGNMENT_ID_NOT_AVAILABLE";

function turkGetParam(name, defaultValue) {
  var value = new URLSearchParams(window.location.search).get(name);
  return value === null ? defaultValue : value;
}

function turkGetSubmitToHost() {
  // Only a web address: anything else (javascript:, data:) falls back as Amazon's does.
  var host = turkGetParam("turkSubmitTo", TURK_DEFAULT_SUBMIT_HOST);
  return /^(https?:)?\/\//i.test(host) ? host.replace(/\/+$/, "") : TURK_DEFAULT_SUBMIT_HOST;
}

function turkSetAssignmentID(formName, buttonName) {
  var assignmentId = turkGetParam("assignmentId", "");
  var input = document.getElementById("assignmentId");
  if (input) input.value = assignmentId;
  if (assignmentId === TURK_NOT_ACCEPTED) {
    var button = document.getElementById(buttonName || "submitButton");
    if (button) {
      button.disabled = true;
      button.value = "You must ACCEPT the HIT before you can submit the results.";
    }
  }
  var form = document.getElementById(formName || "mturk_form");
  if (form) form.action = turkGetSubmitToHost() + "/mturk/externalSubmit";
}
