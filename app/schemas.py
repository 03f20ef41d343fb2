"""marshmallow schemas: what the API accepts and what its objects look like."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from marshmallow import (
    INCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates,
)

from app.domain import BlockStatus
from app.errors import error_object
from app.templates import HITBLOCK_TYPES, ITEM_TYPES
from mturk.gateway import MTurkError

EVENT_TYPES = [
    "item.published",
    "item.completed",
    "item.expired",
    "response.submitted",
    "response.approved",
    "response.rejected",
    "hitblock.completed",
    "hitblock.paused",
    "hitblock.resumed",
    "hitblock.canceled",
    "worker.excluded",
]

# Ranges MTurk documents for CreateHITType / CreateHITWithHITType.
MIN_DURATION, MAX_DURATION = 30, 31_536_000
MAX_ID = 2_147_483_647  # ids are 32-bit integers on every backend
MAX_AUTO_APPROVAL_DELAY = 2_592_000
COMPARATORS = [
    "LessThan",
    "LessThanOrEqualTo",
    "GreaterThan",
    "GreaterThanOrEqualTo",
    "EqualTo",
    "NotEqualTo",
    "Exists",
    "DoesNotExist",
    "In",
    "NotIn",
]
ACTIONS_GUARDED = ["Accept", "PreviewAndAccept", "DiscoverPreviewAndAccept"]
HIT_ID = validate.Regexp(r"^[A-Z0-9]+$", error="must contain only uppercase letters and digits")


class Money(fields.Decimal):
    """Exact ``Decimal`` inside, a JSON number outside (as in the seed: ``"cost": 0.10``)."""

    def _serialize(  # type: ignore[override]
        self, value: Any, attr: str | None, obj: Any, **kwargs: Any
    ) -> float | None:
        return None if value is None else float(value)


class UnixTime(fields.Field):
    """Datetimes as integer Unix seconds, as the seed's ``created``."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> int | None:
        return None if value is None else int(value.timestamp())

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        raise ValidationError("read-only")


class WholeNumber(fields.Integer):
    """An integer that refuses 1.5 and true instead of truncating them; "3" from a form is fine."""

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise self.make_error("invalid")
        return super()._validated(value)  # type: ignore[no-any-return]


def _cents(value: Decimal) -> None:
    if value <= 0:
        raise ValidationError("must be greater than 0.")
    if value.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValidationError("must have at most two decimals.")
    if value >= Decimal("1000000"):
        raise ValidationError("must be less than 1000000.")


# ---- requests -------------------------------------------------------------------------


class ListArgsSchema(Schema):
    limit = WholeNumber(load_default=10, validate=validate.Range(1, 100))
    starting_after = WholeNumber(validate=validate.Range(1, MAX_ID))
    ending_before = WholeNumber(validate=validate.Range(1, MAX_ID))

    @post_load
    def _check_cursors(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if "starting_after" in data and "ending_before" in data:
            raise ValidationError(
                "use either starting_after or ending_before, not both.", "ending_before"
            )
        return data


class LocaleSchema(Schema):
    country = fields.String(
        required=True, data_key="country", validate=validate.Regexp(r"^[A-Z]{2}$")
    )
    subdivision = fields.String(validate=validate.Regexp(r"^[A-Z]{2}$"))


class QualificationRequirementSchema(Schema):
    """MTurk's QualificationRequirement, spelled in snake_case like the rest of the API."""

    qualification_type_id = fields.String(required=True, validate=[validate.Length(1, 64), HIT_ID])
    comparator = fields.String(required=True, validate=validate.OneOf(COMPARATORS))
    integer_values = fields.List(WholeNumber(), validate=validate.Length(max=15))
    locale_values = fields.List(fields.Nested(LocaleSchema), validate=validate.Length(max=30))
    actions_guarded = fields.String(load_default="Accept", validate=validate.OneOf(ACTIONS_GUARDED))

    @post_load
    def _values_fit_comparator(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        values = len(data.get("integer_values", [])) + len(data.get("locale_values", []))
        if data.get("integer_values") and data.get("locale_values"):
            raise ValidationError("give integer_values or locale_values, not both.", "_schema")
        comparator = data.get("comparator")
        if comparator is None:  # only a partial load lacks it; updates load requirements whole
            raise ValidationError("Missing data for required field.", "comparator")
        if comparator in {"Exists", "DoesNotExist"} and values:
            raise ValidationError(f"{comparator} takes no values.", "comparator")
        if comparator in {"In", "NotIn"} and not values:
            raise ValidationError(f"{comparator} needs at least one value.", "comparator")
        if comparator not in {"Exists", "DoesNotExist", "In", "NotIn"} and values != 1:
            raise ValidationError(f"{comparator} takes exactly one value.", "comparator")
        return data


class GoldPolicySchema(Schema):
    min_accuracy = fields.Float(
        required=True,
        validate=validate.Range(0, 1),
        metadata={"description": "Share of gold answers a worker must get right (0 to 1)."},
    )
    min_answers = WholeNumber(
        required=True,
        validate=validate.Range(1, 1000),
        metadata={"description": "Gold answers a worker gives before the policy judges them."},
    )


class HitblockCreateSchema(Schema):
    type = fields.String(required=True, validate=validate.OneOf(sorted(HITBLOCK_TYPES)))
    title = fields.String(required=True, validate=validate.Length(1, 128))
    description = fields.String(load_default="", validate=validate.Length(max=2000))
    cost_per_item = fields.Decimal(required=True, validate=_cents, metadata={"type": "number"})
    workers_per_item = WholeNumber(load_default=1, validate=validate.Range(1, 1000))
    currency = fields.String(load_default="usd", validate=validate.OneOf(["usd"]))
    template = fields.String(
        validate=validate.Length(1, 65_535),
        metadata={
            "description": "HTML with ${field} placeholders. It must be able to submit to MTurk:"
            " a <crowd-form>, a form posting to MTurk's externalSubmit with an assignmentId, or"
            " one plain <form> with a submit button, to which MTurk's plumbing is added when"
            " published (stored as written)."
        },
    )
    labels = fields.List(
        fields.String(validate=validate.Length(1, 100)), validate=validate.Length(2, 50)
    )
    callback_url = fields.URL(
        allow_none=True, schemes={"http", "https"}, require_tld=False,
        validate=validate.Length(max=2048),
    )  # fmt: skip
    lifetime_in_seconds = WholeNumber(
        load_default=7 * 24 * 3600, validate=validate.Range(MIN_DURATION, MAX_DURATION)
    )
    assignment_duration_in_seconds = WholeNumber(
        load_default=3600, validate=validate.Range(MIN_DURATION, MAX_DURATION)
    )
    auto_approval_delay_in_seconds = WholeNumber(
        load_default=3 * 24 * 3600, validate=validate.Range(0, MAX_AUTO_APPROVAL_DELAY)
    )
    keywords = fields.String(load_default="", validate=validate.Length(max=1000))
    qualification_requirements = fields.List(
        fields.Nested(QualificationRequirementSchema),
        load_default=list,
        validate=validate.Length(max=10),
    )
    gold_policy = fields.Nested(
        GoldPolicySchema,
        allow_none=True,
        metadata={
            "description": "Workers whose accuracy on gold items falls below min_accuracy after "
            "min_answers gold answers are excluded from this hitblock's HITs and their "
            "submitted responses flagged. Set before the first publish."
        },
    )

    @validates("labels")
    def _distinct_labels(self, value: list[str], data_key: str, **kwargs: Any) -> None:
        if len(set(value)) != len(value):
            raise ValidationError("labels must be distinct.")


class HitblockUpdateSchema(HitblockCreateSchema):
    """Every field optional; only the fields sent change.

    Partial at the top level only: ``partial=True`` would reach into nested objects too, and
    a qualification requirement must be whole however it arrives.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.partial = tuple(self.fields)


class ItemCreateSchema(Schema):
    """An item's fields, at the top level as in the seed's ``curl -d`` or under ``params``.

    Every top-level name other than ``type`` and ``params`` is an item field.
    """

    class Meta:
        unknown = INCLUDE  # documents the open top level; pre_load moves those names into params

    type = fields.String(validate=validate.OneOf(ITEM_TYPES))
    params = fields.Dict(
        keys=fields.String(), values=fields.Raw(allow_none=True), load_default=dict
    )
    gold = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        allow_none=True,
        metadata={
            "description": "A gold item's expected answer, {field: value}; kept here, never "
            "sent to MTurk. Answers are scored as they arrive."
        },
    )

    @pre_load
    def _gather_params(self, data: Any, **kwargs: Any) -> Any:
        return gather_item_fields(data)


def gather_item_fields(data: Any) -> Any:
    """Move an item's top-level fields into ``params``; leave ``type`` where it is.

    Shared by the single-item schema and batch rows, which skip marshmallow for speed.
    ``gold`` stays where it is too (a field of that name goes under ``params``).
    """
    if not isinstance(data, dict) or not isinstance(data.get("params", {}), dict):
        return data  # let the fields report the wrong type
    params = dict(data.get("params", {}))
    for name, value in data.items():
        if name in {"type", "params", "gold"}:
            continue
        if name in params:
            raise ValidationError("given both at the top level and in params.", name)
        params[name] = value
    gathered = {"params": params}
    for name in ("type", "gold"):
        if name in data:
            gathered[name] = data[name]
    return gathered


# ---- objects --------------------------------------------------------------------------


class ResponseSchema(Schema):
    object = fields.Constant("response")
    id = fields.Integer()
    item = fields.Integer(attribute="item_id")
    status = fields.String(metadata={"enum": ["submitted", "approved", "rejected"]})
    approved = fields.Method("_approved", metadata={"type": "boolean", "nullable": True})
    worker_id = fields.String()
    assignment_id = fields.String(metadata={"description": "MTurk's AssignmentId."})
    data = fields.Dict(
        metadata={
            "description": "The worker's answer by field: a string for one value, a list of "
            "strings for several (a checkbox group, a multi-select: [] when none); crowd-form "
            "fields keep their JSON types."
        }
    )
    answer_xml = fields.String(
        metadata={"description": "MTurk's QuestionFormAnswers XML as received (U+0000 removed)."}
    )
    answer_error = fields.String(
        allow_none=True,
        metadata={
            "description": "Why the answer XML could not be read (it is kept raw), or what "
            "was removed from it (U+0000)."
        },
    )
    feedback = fields.String(allow_none=True)
    cost = Money()
    accepted = UnixTime(allow_none=True)
    submitted = UnixTime()
    reviewed = UnixTime(allow_none=True)
    created = UnixTime()
    gold_correct = fields.Boolean(
        allow_none=True,
        metadata={"description": "On a gold item, whether the answer matched; else null."},
    )
    flagged = fields.Boolean(
        metadata={"description": "Flagged for review (the worker failed the gold policy)."}
    )
    flag_reason = fields.String(allow_none=True)

    def _approved(self, response: Any) -> bool | None:
        """True or false once reviewed; null while the response awaits review."""
        return {"approved": True, "rejected": False}.get(response.status)


class HitblockSchema(Schema):
    object = fields.Constant("hitblock")
    id = fields.Integer()
    type = fields.String()
    title = fields.String()
    description = fields.String()
    status = fields.String()
    created = UnixTime()
    cost_per_item = Money()
    total_spent = Money()
    workers_per_item = fields.Integer()
    currency = fields.String()
    num_items = fields.Integer()
    num_items_completed = fields.Integer()
    template = fields.String()
    labels = fields.List(fields.String(), allow_none=True)
    callback_url = fields.String(allow_none=True)
    callback_secret = fields.String(
        allow_none=True,
        metadata={"description": "Signs what is POSTed to callback_url (made on first use)."},
    )
    lifetime_in_seconds = fields.Integer()
    assignment_duration_in_seconds = fields.Integer()
    auto_approval_delay_in_seconds = fields.Integer()
    keywords = fields.String()
    qualification_requirements = fields.List(fields.Nested(QualificationRequirementSchema))
    gold_policy = fields.Nested(GoldPolicySchema, allow_none=True)


class ItemSchema(Schema):
    object = fields.Constant("item")
    id = fields.Integer()
    hitblock = fields.Integer(attribute="hitblock_id")
    type = fields.String()
    status = fields.String(
        metadata={"enum": ["pending", "published", "completed", "expired"]},
    )
    hit_id = fields.String(
        allow_none=True, metadata={"description": "MTurk's HITId, once published."}
    )
    created = UnixTime()
    cost = Money()
    currency = fields.Function(lambda item: item.hitblock.currency)
    params = fields.Dict()
    gold = fields.Dict(allow_none=True, metadata={"description": "A gold item's answer."})
    responses = fields.List(fields.Nested(ResponseSchema))


class ListSchema(Schema):
    object = fields.Constant("list")
    url = fields.String()
    has_more = fields.Boolean()


class HitblockListSchema(ListSchema):
    data = fields.List(fields.Nested(HitblockSchema))


class ItemListSchema(ListSchema):
    data = fields.List(fields.Nested(ItemSchema))


class HITSchema(Schema):
    """The seed's HIT object, answered when an item is posted."""

    object = fields.Constant("HIT")
    id = fields.String(attribute="hit_id", metadata={"description": "MTurk's HITId."})
    url = fields.String(metadata={"description": "Where a worker previews the HIT."})
    service = fields.Constant("AMT")
    status = fields.Constant("published")
    created = UnixTime()
    item = fields.Nested(ItemSchema)


class MTurkErrorField(fields.Field):
    """An MTurk failure inside an answer that lists several outcomes: the API's error object."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else error_object(value)


class PublishFailureSchema(Schema):
    item = fields.Integer()
    error = MTurkErrorField(metadata={"type": "object"})


class HitblockPublicationSchema(Schema):
    object = fields.Constant("hitblock_publication")
    hitblock = fields.Nested(HitblockSchema)
    published = fields.List(fields.Integer(), metadata={"description": "Items published now."})
    failed = fields.List(
        fields.Nested(PublishFailureSchema),
        metadata={"description": "Items left pending, each with its error; post again."},
    )


class ResponseListArgsSchema(ListArgsSchema):
    status = fields.String(validate=validate.OneOf(["submitted", "approved", "rejected"]))


class ResponseListSchema(ListSchema):
    data = fields.List(fields.Nested(ResponseSchema))


class ApproveSchema(Schema):
    feedback = fields.String(validate=validate.Length(1, 1024))


class RejectSchema(Schema):
    feedback = fields.String(
        required=True,
        validate=validate.Length(1, 1024),
        metadata={"description": "Shown to the worker; MTurk requires it for rejections."},
    )


class BonusCreateSchema(Schema):
    amount = fields.Decimal(required=True, validate=_cents, metadata={"type": "number"})
    reason = fields.String(
        required=True,
        validate=validate.Length(1, 1024),
        metadata={"description": "Shown to the worker; MTurk requires it."},
    )


class BonusSchema(Schema):
    object = fields.Constant("bonus")
    id = fields.Integer()
    response = fields.Integer(attribute="response_id")
    amount = Money()
    reason = fields.String()
    status = fields.String(metadata={"enum": ["pending", "paid", "failed"]})
    cost = Money(metadata={"description": "Amount plus MTurk's fee, once paid."})
    currency = fields.Constant("usd")
    created = UnixTime()
    paid = UnixTime(allow_none=True)


class ReviewOutcomeSchema(Schema):
    response = fields.Integer()
    status = fields.String()
    error = MTurkErrorField(allow_none=True, metadata={"type": "object", "nullable": True})


class ReviewResultSchema(Schema):
    object = fields.Constant("review_result")
    results = fields.List(fields.Nested(ReviewOutcomeSchema))


class EventListArgsSchema(ListArgsSchema):
    type = fields.String(validate=validate.OneOf(EVENT_TYPES))


class EventSchema(Schema):
    object = fields.Constant("event")
    id = fields.Integer()
    type = fields.String()
    created = UnixTime()
    data = fields.Dict(metadata={"description": "``object``: the object as it was then."})


class EventListSchema(ListSchema):
    data = fields.List(fields.Nested(EventSchema))


def _event_types(value: list[str]) -> None:
    unknown = sorted(set(value) - {*EVENT_TYPES, "*"})
    if unknown:
        raise ValidationError(f"unknown event types: {', '.join(unknown)}.")


class WebhookEndpointCreateSchema(Schema):
    url = fields.URL(
        required=True, schemes={"http", "https"}, require_tld=False,
        validate=validate.Length(max=2048),
    )  # fmt: skip
    enabled_events = fields.List(
        fields.String(),
        required=True,
        validate=[validate.Length(min=1), _event_types],
        metadata={"description": 'Event types to send, or ["*"] for all.'},
    )


class WebhookEndpointUpdateSchema(WebhookEndpointCreateSchema):
    disabled = fields.Boolean()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(partial=True, **kwargs)


class WebhookEndpointSchema(Schema):
    object = fields.Constant("webhook_endpoint")
    id = fields.Integer()
    url = fields.String()
    enabled_events = fields.List(fields.String())
    status = fields.String(metadata={"enum": ["enabled", "disabled"]})
    secret = fields.Method(
        "_secret",
        metadata={"type": "string", "description": "The signing secret, only on creation."},
    )
    created = UnixTime()

    def _secret(self, endpoint: Any) -> str | None:
        return endpoint.secret if getattr(endpoint, "reveal_secret", False) else None


class WebhookEndpointListSchema(ListSchema):
    data = fields.List(fields.Nested(WebhookEndpointSchema))


class DeliveryAttemptSchema(Schema):
    status_code = fields.Integer(allow_none=True)
    latency_ms = fields.Integer()
    error = fields.String(allow_none=True)
    created = UnixTime()


class DeliverySchema(Schema):
    object = fields.Constant("webhook_delivery")
    id = fields.Integer()
    webhook_id = fields.Function(
        lambda delivery: f"msg_{delivery.id}",
        metadata={"type": "string", "description": "The webhook-id header: stable across retries."},
    )
    event = fields.Integer(attribute="event_id")
    endpoint = fields.Integer(attribute="endpoint_id", allow_none=True)
    url = fields.String()
    status = fields.String(metadata={"enum": ["pending", "delivered", "failed"]})
    attempts = fields.Integer()
    next_attempt = UnixTime(allow_none=True)
    created = UnixTime()


class DeliveryDetailSchema(DeliverySchema):
    attempt_log = fields.List(fields.Nested(DeliveryAttemptSchema))


class DeliveryListArgsSchema(ListArgsSchema):
    endpoint = WholeNumber(validate=validate.Range(1, MAX_ID))
    event = WholeNumber(validate=validate.Range(1, MAX_ID))


class DeliveryListSchema(ListSchema):
    data = fields.List(fields.Nested(DeliverySchema))


# ---- quality: consensus, workers, blocks ---------------------------------------------


class ConsensusArgsSchema(ListArgsSchema):
    method = fields.String(
        load_default="majority_vote",
        validate=validate.OneOf(["majority_vote", "dawid_skene"]),
        metadata={"description": "dawid_skene needs the optional extra hitblocks[consensus]."},
    )


class ItemConsensusSchema(Schema):
    object = fields.Constant("item_consensus")
    item = fields.Integer(attribute="item_id")
    answer = fields.Dict(metadata={"description": "The aggregate answer, by answer field."})
    confidence = fields.Dict(
        keys=fields.String(),
        values=fields.Float(),
        metadata={"description": "Per field: the share of votes (majority vote) or posterior "
                  "probability (Dawid-Skene) of the answer."},
    )  # fmt: skip
    responses = fields.Integer(metadata={"description": "Counted responses to the item."})


class ConsensusListSchema(ListSchema):
    method = fields.String()
    data = fields.List(fields.Nested(ItemConsensusSchema))


class WorkerStatsSchema(Schema):
    object = fields.Constant("worker_stats")
    worker_id = fields.String()
    responses = fields.Integer()
    submitted = fields.Integer()
    approved = fields.Integer()
    rejected = fields.Integer()
    approval_rate = fields.Float(
        allow_none=True, metadata={"description": "approved / (approved + rejected)."}
    )
    agreement = fields.Float(
        allow_none=True,
        metadata={"description": "Share of the worker's answers equal to the majority vote, "
                  "on items with at least two counted responses."},
    )  # fmt: skip
    agreement_answers = fields.Integer()
    gold_answers = fields.Integer()
    gold_correct = fields.Integer()
    gold_accuracy = fields.Float(allow_none=True)
    median_seconds = fields.Float(
        allow_none=True, metadata={"description": "Median time from accept to submit."}
    )
    flagged = fields.Integer(metadata={"description": "Submitted responses flagged for review."})
    blocked = fields.Boolean(metadata={"description": "Blocked by this account."})
    excluded = fields.Boolean(metadata={"description": "Excluded from this hitblock (gold)."})


class WorkerStatsListSchema(ListSchema):
    data = fields.List(fields.Nested(WorkerStatsSchema))


class WorkerBlockCreateSchema(Schema):
    reason = fields.String(
        required=True,
        validate=validate.Length(1, 1024),
        metadata={"description": "Why; MTurk requires it (the worker may see it)."},
    )


class WorkerBlockSchema(Schema):
    object = fields.Constant("worker_block")
    id = fields.Integer()
    worker_id = fields.String()
    reason = fields.String()
    status = fields.String(
        metadata={
            "enum": [status.value for status in BlockStatus],
            "description": "pending / removing: MTurk has not confirmed yet (it is retried); "
            "failed: MTurk refused the block or unblock (see failure_code).",
        }
    )
    created = UnixTime()
    failure_code = fields.String(attribute="error_code", allow_none=True)  # MTurk's, if failed
    failure_message = fields.String(attribute="error_message", allow_none=True)


class WorkerBlockListSchema(ListSchema):
    data = fields.List(fields.Nested(WorkerBlockSchema))


class DeletedSchema(Schema):
    deleted = fields.Boolean()
    id = fields.Integer()


class ItemBatchSchema(Schema):
    object = fields.Constant("item_batch")
    hitblock = fields.Integer()
    count = fields.Integer()
    item_ids = fields.List(fields.Integer(), metadata={"description": "In row order."})


class ErrorDetailSchema(Schema):
    type = fields.String()
    message = fields.String()
    param = fields.String(allow_none=True)
    code = fields.String(allow_none=True)
    errors = fields.List(fields.Dict(), metadata={"description": "Per-row errors of a batch."})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorDetailSchema)


# ---- results: the MTurk-format export and its upload (app/views/results.py) -------------


class ResultsArgsSchema(Schema):
    format = fields.String(
        validate=validate.OneOf(["csv", "jsonl"]),
        metadata={
            "description": "csv (MTurk's batch results) or jsonl (JSON Lines); without it, "
            "the Accept header chooses (application/x-ndjson for JSON Lines), else CSV."
        },
    )
    escape_formulas = fields.Boolean(
        load_default=True,
        metadata={
            "description": "CSV: write a cell a spreadsheet would run as a formula (starting "
            "with =, +, -, @, tab or CR, numbers excepted) with a ' in front. Answers come "
            "from untrusted workers; false gives the exact values."
        },
    )


class UploadRowErrorField(fields.Field):
    """Why a row was not acted on: MTurk's refusal, or the row's own problem, as the API's
    error object."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, MTurkError):
            return error_object(value)
        return {
            "type": "invalid_request_error",
            "message": value.message,
            "param": value.param,
            "code": value.code,
        }


class ResultsUploadRowSchema(Schema):
    row = fields.Integer(metadata={"description": "As a spreadsheet numbers it: header is 1."})
    assignment_id = fields.String(allow_none=True)
    response = fields.Integer(allow_none=True)
    action = fields.String(metadata={"enum": ["approve", "reject", "skip"]})
    status = fields.String(
        allow_none=True,
        metadata={
            "enum": ["submitted", "approved", "rejected", None],
            "description": "The response's status after the upload (null: no such response).",
        },
    )
    error = UploadRowErrorField(allow_none=True, metadata={"type": "object", "nullable": True})


class ResultsUploadSchema(Schema):
    object = fields.Constant("results_upload")
    hitblock = fields.Integer()
    approved = fields.Integer(metadata={"description": "Rows approved (now or before)."})
    rejected = fields.Integer(metadata={"description": "Rows rejected (now or before)."})
    skipped = fields.Integer(metadata={"description": "Rows with neither Approve nor Reject."})
    failed = fields.Integer(metadata={"description": "Rows with an error."})
    rows = fields.List(fields.Nested(ResultsUploadRowSchema))
