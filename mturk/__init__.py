"""MTurk: the boto3 adapter, question/answer XML and the local MTurk-compatible service."""
