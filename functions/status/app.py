"""The status function. Not built yet: the pipeline-functions issue fills it in.

Until then it fails loudly, so an event that reaches it is retried and lands in a DLQ, never lost.
"""

from typing import Any


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Refuse the event: this function is not implemented yet."""
    raise NotImplementedError("filescan status function is not built yet")
