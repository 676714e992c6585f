"""Reading botocore ``ClientError``s: one place that knows which codes mean what."""

from botocore.exceptions import ClientError

_MISSING_OBJECT_CODES = frozenset({"404", "NoSuchKey", "NoSuchVersion", "NotFound"})


def error_code(error: ClientError) -> str:
    """The AWS error code of ``error`` (``""`` when the response has none)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def is_missing_object(error: ClientError) -> bool:
    """Whether an S3 call failed because the object (or the named version) does not exist."""
    return error_code(error) in _MISSING_OBJECT_CODES
