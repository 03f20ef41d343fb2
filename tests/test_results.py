"""``/v1/hitblocks/{id}/results`` over HTTP: the MTurk-format CSV and JSON Lines downloads,
and review by uploading that CSV, end to end with the bundled MTurk service (workers submit
through its worker site; boto3 checks what MTurk recorded)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from openapi_schema_validator import OAS30Validator

from app.extensions import db
from app.gateway import mturk_gateway
from app.services.polling import poll_once
from tests.worker_site import complete

CSV, NDJSON = "text/csv", "application/x-ndjson"


def published_items(client, auth, make_hitblock, count):
    hitblock = make_hitblock(cost_per_item=0.10)
    rows = [{"image_url": f"https://example.org/{n}.jpg"} for n in range(count)]
    client.post(f"/v1/hitblocks/{hitblock['id']}/items/batch", json=rows, headers=auth)
    assert client.post(f"/v1/hitblocks/{hitblock['id']}/post", headers=auth).status_code == 200
    items = client.get(f"/v1/hitblocks/{hitblock['id']}/items?limit=100", headers=auth).json
    return hitblock, sorted(items["data"], key=lambda item: item["id"])


def worked(app, client, auth, make_hitblock, publishing, answers):
    """A published hitblock whose items each got one answer (workers AWORKER<n>), polled."""
    hitblock, items = published_items(client, auth, make_hitblock, len(answers))
    assignments = [
        complete(publishing.url, item["hit_id"], f"AWORKER{n}", [("transcription", answer)])
        for n, (item, answer) in enumerate(zip(items, answers, strict=True))
    ]
    with app.app_context():
        assert poll_once(db.session, mturk_gateway()).new_responses == len(answers)
    return hitblock, items, assignments


def download(client, auth, hitblock_id, query=""):
    response = client.get(f"/v1/hitblocks/{hitblock_id}/results{query}", headers=auth)
    assert response.status_code == 200, response.data
    return response


def csv_rows(response):
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True), newline="")))


def filled(rows, decisions):
    """The downloaded rows written back with Approve / Reject filled in, by csv."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    for row in rows:
        approve, reject = decisions.get(row["AssignmentId"], ("", ""))
        writer.writerow({**row, "Approve": approve, "Reject": reject})
    return out.getvalue().encode()


def test_the_csv_round_trips_through_the_upload_to_mturk(
    app, client, auth, make_hitblock, publishing, mturk_calls
):
    hitblock, items, (good, bad, later) = worked(
        app, client, auth, make_hitblock, publishing, ["12.00", "=1+2", "7.50"]
    )
    response = download(client, auth, hitblock["id"])
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="hitblock-{hitblock["id"]}-results.csv"'
    )
    rows = csv_rows(response)
    assert list(rows[0])[:3] == ["HITId", "HITTypeId", "Title"]
    assert list(rows[0])[-4:] == ["Input.image_url", "Answer.transcription", "Approve", "Reject"]
    by_assignment = {r["AssignmentId"]: r for r in rows}
    assert sorted(by_assignment) == sorted([good, bad, later])
    assert [by_assignment[a]["HITId"] for a in (good, bad, later)] == [i["hit_id"] for i in items]
    answers = [by_assignment[a]["Answer.transcription"] for a in (good, bad, later)]
    assert answers == ["12.00", "'=1+2", "7.50"]  # a formula is not left to run
    assert {r["AssignmentStatus"] for r in rows} == {"Submitted"}
    first = by_assignment[good]
    assert first["Reward"] == "$0.10" and first["WorkerId"] == "AWORKER0"
    # The HIT as MTurk has it, in the CSV's notation.
    hit = publishing.client.get_hit(HITId=items[0]["hit_id"])["HIT"]
    assert first["HITTypeId"] == hit["HITTypeId"]
    assert first["RequesterAnnotation"] == hit["RequesterAnnotation"]
    assert first["MaxAssignments"] == str(hit["MaxAssignments"])

    mturk_calls.clear()
    body = filled(rows, {good: ("x", ""), bad: ("", "The total is not a number.")})
    uploaded = client.post(
        f"/v1/hitblock/{hitblock['id']}/results",
        data={"file": (io.BytesIO(body), "Batch_results.csv")},
        content_type="multipart/form-data",
        headers=auth,
    )
    assert uploaded.status_code == 200, uploaded.json
    report = uploaded.json
    assert report["object"] == "results_upload"
    assert (report["approved"], report["rejected"], report["skipped"], report["failed"]) == (
        1,
        1,
        1,
        0,
    )
    expected = {good: ("approve", "approved"), bad: ("reject", "rejected"),
                later: ("skip", "submitted")}  # fmt: skip
    assert [(r["row"], r["assignment_id"], r["action"], r["status"]) for r in report["rows"]] == [
        (number, row["AssignmentId"], *expected[row["AssignmentId"]])
        for number, row in enumerate(rows, start=2)
    ]
    assert mturk_calls == {"ApproveAssignment": 1, "RejectAssignment": 1}

    def on_mturk(assignment_id):
        return publishing.client.get_assignment(AssignmentId=assignment_id)["Assignment"]

    assert on_mturk(good)["AssignmentStatus"] == "Approved"
    assert on_mturk(bad)["AssignmentStatus"] == "Rejected"
    assert on_mturk(bad)["RequesterFeedback"] == "The total is not a number."
    assert on_mturk(later)["AssignmentStatus"] == "Submitted"

    after = {r["AssignmentId"]: r for r in csv_rows(download(client, auth, hitblock["id"]))}
    statuses = [after[a]["AssignmentStatus"] for a in (good, bad, later)]
    assert statuses == ["Approved", "Rejected", "Submitted"]
    assert after[good]["ApprovalTime"] and after[bad]["RejectionTime"]
    assert after[bad]["RequesterFeedback"] == "The total is not a number."
    assert after[good]["LifetimeApprovalRate"] == "100% (1/1)"
    assert after[bad]["LifetimeApprovalRate"] == "0% (0/1)"

    # The same file again: harmless, no MTurk call, every row reported as it stands.
    mturk_calls.clear()
    again = client.post(
        f"/v1/hitblocks/{hitblock['id']}/results", data=body, content_type="text/csv",
        headers=auth,
    )  # fmt: skip
    assert again.status_code == 200 and sum(mturk_calls.values()) == 0
    assert [r["status"] for r in again.json["rows"]] == [
        expected[row["AssignmentId"]][1] for row in rows
    ]
    assert again.json["failed"] == 0


def test_jsonl_by_query_and_its_objects(app, client, auth, make_hitblock, publishing):
    hitblock, items, (assignment,) = worked(app, client, auth, make_hitblock, publishing, ["=1+2"])
    response = download(client, auth, hitblock["id"], "?format=jsonl")
    assert response.mimetype == "application/x-ndjson"
    assert response.headers["Content-Disposition"].endswith('results.jsonl"')
    [line] = response.get_data(as_text=True).splitlines()
    result = json.loads(line)
    assert result["assignment_id"] == assignment and result["item"] == items[0]["id"]
    assert result["answer"] == {"transcription": "=1+2"}  # exact: JSON is for programs
    assert result["input"] == {"image_url": "https://example.org/0.jpg"}
    assert result["hit_id"] == items[0]["hit_id"] and result["status"] == "submitted"


def test_formats_spellings_and_refusals(client, auth, other_auth, hitblock):
    hid = hitblock["id"]
    for path in (f"/v1/hitblocks/{hid}/results", f"/v1/hitblock/{hid}/results"):
        assert client.get(path, headers=auth).mimetype == "text/csv"
        assert client.get(f"{path}?format=csv", headers=auth).mimetype == "text/csv"
        assert client.get(f"{path}?format=jsonl", headers=auth).mimetype == NDJSON
    header = next(csv.reader(io.StringIO(download(client, auth, hid).get_data(as_text=True))))
    assert header[0] == "HITId" and header[-2:] == ["Approve", "Reject"]
    bad = client.get(f"/v1/hitblocks/{hid}/results?format=xlsx", headers=auth)
    assert bad.status_code == 400 and bad.json["error"]["param"] == "format"
    assert client.get(f"/v1/hitblocks/{hid}/results", headers=other_auth).status_code == 404
    assert client.get(f"/v1/hitblocks/{hid}/results").status_code == 401
    missing = client.post(f"/v1/hitblocks/{hid}/results", data=b"AssignmentId,Approve\r\nA,x\r\n",
                          content_type="text/csv", headers=other_auth)  # fmt: skip
    assert missing.status_code == 404 and missing.json["error"]["code"] == "resource_missing"


def test_the_accept_header_chooses_json_lines(client, auth, hitblock):
    both = {**auth, "Accept": f"{NDJSON}, application/json;q=0.5"}
    response = client.get(f"/v1/hitblocks/{hitblock['id']}/results", headers=both)
    assert response.status_code == 200 and response.mimetype == NDJSON


def test_an_accept_of_json_lines_alone_is_served(client, auth, hitblock):
    only = {**auth, "Accept": NDJSON}
    response = client.get(f"/v1/hitblocks/{hitblock['id']}/results", headers=only)
    assert response.status_code == 200 and response.mimetype == NDJSON
    csv_only = {**auth, "Accept": "text/csv"}
    response = client.get(f"/v1/hitblocks/{hitblock['id']}/results", headers=csv_only)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    html_only = {**auth, "Accept": "text/html"}
    response = client.get(f"/v1/hitblocks/{hitblock['id']}/results", headers=html_only)
    assert response.status_code == 406
    response = client.get("/v1/hitblocks", headers=csv_only)  # JSON only elsewhere
    assert response.status_code == 406


def test_the_download_is_streamed(client, auth, hitblock):
    response = client.get(f"/v1/hitblocks/{hitblock['id']}/results", headers=auth, buffered=False)
    assert response.is_streamed
    assert "Content-Length" not in response.headers
    response.close()


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"data": b"HITId,Approve\r\nH,x\r\n", "content_type": CSV}, "results_upload_invalid"),
        ({"data": b"\xff\xfe\x00A", "content_type": CSV}, "results_upload_invalid"),
        ({"data": b"", "content_type": CSV}, "results_upload_invalid"),
        ({"json": [{"AssignmentId": "A"}]}, "unsupported_content_type"),
        ({"data": {"other": (io.BytesIO(b"x"), "a.csv")}, "content_type": "multipart/form-data"},
         None),
    ],
)  # fmt: skip
def test_a_bad_upload_answers_400_and_changes_nothing(client, auth, hitblock, kwargs, code):
    response = client.post(f"/v1/hitblocks/{hitblock['id']}/results", headers=auth, **kwargs)
    assert response.status_code == 400, response.json
    assert response.json["error"]["code"] == code
    assert response.json["error"]["type"] == "invalid_request_error"


def test_the_upload_answer_matches_its_documented_schema(
    app, client, auth, make_hitblock, publishing
):
    hitblock, _, (assignment,) = worked(app, client, auth, make_hitblock, publishing, ["1"])
    body = f"AssignmentId,Approve,Reject\r\n{assignment},x,\r\nNOSUCH,x,\r\n".encode()
    response = client.post(f"/v1/hitblocks/{hitblock['id']}/results", data=body,
                           content_type="text/csv", headers=auth)  # fmt: skip
    assert response.status_code == 200
    assert response.json["rows"][1]["error"] == {
        "type": "invalid_request_error",
        "message": f"No response of hitblock {hitblock['id']} has AssignmentId 'NOSUCH'.",
        "param": "AssignmentId",
        "code": "assignment_not_found",
    }
    spec = client.get("/v1/openapi.json").json
    operation = spec["paths"]["/v1/hitblocks/{hitblock_id}/results"]["post"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    validator = OAS30Validator({**schema, "components": spec["components"]})
    assert list(validator.iter_errors(response.json)) == []
    export = spec["paths"]["/v1/hitblocks/{hitblock_id}/results"]["get"]["responses"]["200"]
    assert set(export["content"]) == {"text/csv", NDJSON}
