"""QuestionForms for the tests, and a multipart form POST (file uploads) through a
``tests.worker_site.Worker``'s own cookies, as a browser's form would send it."""

from __future__ import annotations

import secrets
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from mturk.question_form_xml import QUESTION_FORM_NS

SURVEY_QUESTIONS = """
<Overview>
  <Title>Tell us about this picture</Title>
  <Text>Look at the picture, then answer every question.</Text>
  <FormattedContent><![CDATA[<p>Answers are <b>checked</b> before they are sent.</p>]]>
  </FormattedContent>
</Overview>
<Question>
  <QuestionIdentifier>colour</QuestionIdentifier>
  <DisplayName>Main colour</DisplayName>
  <IsRequired>true</IsRequired>
  <QuestionContent><Text>Which colour is most of the picture?</Text></QuestionContent>
  <AnswerSpecification>
    <SelectionAnswer>
      <StyleSuggestion>radiobutton</StyleSuggestion>
      <Selections>
        <Selection><SelectionIdentifier>red</SelectionIdentifier><Text>Red</Text></Selection>
        <Selection><SelectionIdentifier>blue</SelectionIdentifier><Text>Blue</Text></Selection>
        <OtherSelection/>
      </Selections>
    </SelectionAnswer>
  </AnswerSpecification>
</Question>
<Question>
  <QuestionIdentifier>things</QuestionIdentifier>
  <DisplayName>What is in it</DisplayName>
  <IsRequired>true</IsRequired>
  <QuestionContent><Text>Tick everything you can see (one to three).</Text></QuestionContent>
  <AnswerSpecification>
    <SelectionAnswer>
      <MinSelectionCount>1</MinSelectionCount>
      <MaxSelectionCount>3</MaxSelectionCount>
      <StyleSuggestion>checkbox</StyleSuggestion>
      <Selections>
        <Selection><SelectionIdentifier>cat</SelectionIdentifier><Text>A cat</Text></Selection>
        <Selection><SelectionIdentifier>dog</SelectionIdentifier><Text>A dog</Text></Selection>
        <Selection><SelectionIdentifier>tree</SelectionIdentifier><Text>A tree</Text></Selection>
        <Selection><SelectionIdentifier>car</SelectionIdentifier><Text>A car</Text></Selection>
      </Selections>
    </SelectionAnswer>
  </AnswerSpecification>
</Question>
<Question>
  <QuestionIdentifier>count</QuestionIdentifier>
  <DisplayName>How many people</DisplayName>
  <IsRequired>true</IsRequired>
  <QuestionContent><Text>How many people are in the picture?</Text></QuestionContent>
  <AnswerSpecification>
    <FreeTextAnswer>
      <Constraints><IsNumeric minValue="0" maxValue="50"/></Constraints>
    </FreeTextAnswer>
  </AnswerSpecification>
</Question>
<Question>
  <QuestionIdentifier>note</QuestionIdentifier>
  <DisplayName>Anything else</DisplayName>
  <QuestionContent><Text>Anything else we should know?</Text></QuestionContent>
  <AnswerSpecification>
    <FreeTextAnswer>
      <Constraints><Length maxLength="200"/></Constraints>
      <NumberOfLinesSuggestion>3</NumberOfLinesSuggestion>
    </FreeTextAnswer>
  </AnswerSpecification>
</Question>
<Question>
  <QuestionIdentifier>photo</QuestionIdentifier>
  <DisplayName>Your own photo</DisplayName>
  <IsRequired>true</IsRequired>
  <QuestionContent><Text>Upload a photo like it (up to 1 KB here).</Text></QuestionContent>
  <AnswerSpecification>
    <FileUploadAnswer>
      <MaxFileSizeInBytes>1024</MaxFileSizeInBytes>
      <MinFileSizeInBytes>2</MinFileSizeInBytes>
    </FileUploadAnswer>
  </AnswerSpecification>
</Question>
"""


def question_form(body: str, namespace: str = QUESTION_FORM_NS) -> str:
    return f'<QuestionForm xmlns="{namespace}">{body}</QuestionForm>'


SURVEY = question_form(SURVEY_QUESTIONS)


def multipart(
    fields: list[tuple[str, str]], files: Sequence[tuple[str, str, str, bytes]] = ()
) -> tuple[bytes, str]:
    """(body, Content-Type) of a multipart/form-data POST; ``files``: (field, filename,
    content type, data)."""
    boundary = "----forms" + secrets.token_hex(12)
    parts: list[bytes] = []
    for name, value in fields:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    for name, filename, kind, data in files:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {kind}\r\n\r\n'
        )
        parts.append(head.encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def post_multipart(
    worker: Any,
    path: str,
    fields: list[tuple[str, str]],
    files: Sequence[tuple[str, str, str, bytes]] = (),
) -> tuple[int, str]:
    """(status, body) of a multipart POST to the worker site with the worker's cookies."""
    body, content_type = multipart(fields, files)
    request = urllib.request.Request(
        worker.base_url + path, data=body, headers={"Content-Type": content_type}
    )
    try:
        with worker.opener.open(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
