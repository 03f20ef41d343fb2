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

# MTurk's "Sentiment Analysis" project template, as the requester website publishes it: a
# crowd-classifier in a crowd-form with answer-format="flatten-objects", so that the results
# CSV shows the answer as Answer.sentiment.label.
SENTIMENT_TEMPLATE = """<!-- You must include this JavaScript file -->
<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>

<!-- For the full list of available Crowd HTML Elements and their input/output documentation,
      please refer to https://docs.aws.amazon.com/sagemaker/latest/dg/sms-ui-template-reference.html -->

<!-- You must include crowd-form so that your task submits answers to MTurk -->
<crowd-form answer-format="flatten-objects">

    <!-- The crowd-classifier element will create a tool for the Worker to select the
           correct answer to your question -->
    <crowd-classifier
      name="sentiment"
      categories="['Strongly Negative', 'Negative', 'Neutral', 'Positive', 'Strongly Positive', 'N/A']"
      header="What sentiment does this text convey?"
    >

      <classification-target>
        ${text}
      </classification-target>

     <!-- Use the short-instructions section for quick instructions that the Worker
            will see while working on the task. Including some basic examples of
            good and bad answers here can help get good results. You can include
            any HTML here. -->
      <short-instructions>
       Choose the primary sentiment that is expressed by the text.
      </short-instructions>

      <!-- Use the full-instructions section for more detailed instructions that the
            Worker can open while working on the task. Including more detailed
            instructions and additional examples of good and bad answers here can
            help get good results. You can include any HTML here. -->
      <full-instructions header="Sentiment Analysis Instructions">
        <p><strong>Strongly Negative</strong>: extreme dissatisfaction, anger, disgust</p>
        <p><strong>Negative</strong>: dissatisfaction, sadness, disappointment</p>
        <p><strong>Neutral</strong>: neither positive or negative, such as stating a fact</p>
        <p><strong>Positive</strong>: satisfaction, happiness, relief</p>
        <p><strong>Strongly Positive</strong>: extreme satisfaction, joy, delight</p>
        <p><strong>N/A</strong>: when the text cannot be understood</p>
        <p>When the sentiment is mixed, such as both joy and sadness, use your judgment to choose the stronger emotion.</p>
      </full-instructions>

    </crowd-classifier>
</crowd-form>
"""  # noqa: E501 (the template's own lines, as MTurk publishes it)

# AWS's crowd-image-classifier sample (Crowd HTML Elements reference), as published: a plain
# crowd-form, so the answer arrives as one taskAnswers JSON field.
IMAGE_CLASSIFIER_TEMPLATE = """<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-form>
    <crowd-image-classifier
        src="${image_url}"
        categories="['Cat', 'Dog', 'Bird', 'None of the Above']"
        header="Choose the correct category for the image"
        name="category">


        <short-instructions>
            <p>Read the task carefully and inspect the image.</p>
            <p>Choose the appropriate label that best suits the image.</p>
        </short-instructions>


        <full-instructions header="Classification Instructions">
            <p>Read the task carefully and inspect the image.</p>
            <p>Choose the appropriate label that best suits the image.
            Use the <b>None of the Above</b> option if none of the other labels suit the image.</p>
        </full-instructions>

    </crowd-image-classifier>
</crowd-form>
"""
