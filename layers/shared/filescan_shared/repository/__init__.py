"""The scans table: the one place that reads and writes scan records.

``ScanRepository`` (DynamoDB) implements the ``ScanStore`` protocol the pipeline depends on; ``items``
holds the item encoding, the index names and the index keys; the conditional writes, the sweeper's
and the API's queries are ``ScanRepository`` methods.
"""

from filescan_shared.repository.dynamodb import ScanRepository, StatusPage, StatusPosition
from filescan_shared.repository.store import ScanStore

__all__ = ["ScanRepository", "ScanStore", "StatusPage", "StatusPosition"]
