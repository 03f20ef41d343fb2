"""MTurk's own sample task pages, as requesters copied them from MTurk's templates."""

from __future__ import annotations

MTURK_SUBMIT = "https://www.mturk.com/mturk/externalSubmit"

# MTurk's sample HTMLQuestion: Amazon's externalHIT_v1.js, a form posting to MTurk's
# externalSubmit, a hidden assignmentId that the script fills in from the query.
SAMPLE_HTML_QUESTION = """<!DOCTYPE html>
<html>
 <head>
  <meta http-equiv='Content-Type' content='text/html; charset=UTF-8'/>
  <script type='text/javascript' src='https://s3.amazonaws.com/mturk-public/externalHIT_v1.js'></script>
 </head>
 <body>
  <form name='mturk_form' method='post' id='mturk_form' action='{submit}'>
  <input type='hidden' value='' name='assignmentId' id='assignmentId'/>
  <h1>What's up?</h1>
  <p><textarea name='comment' cols='80' rows='3'></textarea></p>
  <p><input type='submit' id='submitButton' value='Submit' /></p></form>
  <script language='Javascript'>turkSetAssignmentID();</script>
 </body>
</html>
"""
