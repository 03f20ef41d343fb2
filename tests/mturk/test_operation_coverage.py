"""Every operation of botocore's ``mturk`` model (2017-01-17) is served, and called through
real boto3 by some test: an operation added to botocore's model shows up here as a failure."""

from __future__ import annotations

import re
from pathlib import Path

import botocore.session
from botocore import xform_name

from mturk.service.operations import OPERATIONS

MODEL = botocore.session.get_session().get_service_model("mturk")
TESTS = Path(__file__).resolve().parent.parent


def test_the_service_serves_every_operation_of_botocores_model():
    assert MODEL.api_version == "2017-01-17"
    assert sorted(OPERATIONS) == sorted(MODEL.operation_names)
    assert len(OPERATIONS) == 39


def test_every_operation_is_called_through_boto3_by_a_test():
    """A boto3 call is ``<client>.<snake_case_name>(``; this file's own text is left out."""
    sources = "\n".join(
        path.read_text() for path in TESTS.rglob("test_*.py") if path != Path(__file__).resolve()
    )
    uncalled = [
        name for name in MODEL.operation_names if not re.search(rf"\.{xform_name(name)}\(", sources)
    ]
    assert uncalled == []
