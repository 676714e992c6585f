"""The scans table on DynamoDB: conditional writes that only ever move a scan forward, and its queries.

Every write is a single conditional DynamoDB request, so concurrent or repeated events cannot race a
read-modify-write: a duplicate or late event fails its condition and becomes a no-op.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from filescan_shared.aws_errors import error_code
from filescan_shared.ids import object_ref
from filescan_shared.records import Attempt, EngineJobState, EngineRun, ScanFields, ScanRecord, iso, utc_now
from filescan_shared.repository.items import (
    BY_CONTENT_INDEX,
    BY_OBJECT_INDEX,
    BY_STATUS_INDEX,
    STATUS_INDEX_KEY,
    from_item,
    status_day,
    to_item,
)
from filescan_shared.repository.items import value as _value
from filescan_shared.states import ScanState

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@dataclasses.dataclass(frozen=True, slots=True)
class StatusPosition:
    """Where a listing by status continues: the query, its current day partition and the key inside it."""

    status: ScanState
    since: str
    until: str
    day: dt.date
    last_key: dict[str, str] | None = None
    """``STATUS_INDEX_KEY`` of the last item returned (plain strings)."""


@dataclasses.dataclass(frozen=True, slots=True)
class StatusPage:
    """Scans of one page and where the next one starts (``None``: this was the last)."""

    records: list[ScanRecord]
    next_position: StatusPosition | None


_SUBMIT_CLAIM = ("submit_claim", "claimed_at")
"""Who may submit a QUEUED scan's jobs, and since when (the claim goes stale)."""
_ANALYSIS_CLAIM = ("analysis_claim", "analysis_claimed_at")
"""Who concludes a scan whose engines are all terminal, and since when."""


def _conditionally(write: Callable[[], object]) -> bool:
    """Run one conditional write; ``False`` when its condition does not hold (nothing was written)."""
    try:
        write()
    except ClientError as error:
        if error_code(error) == "ConditionalCheckFailedException":
            return False
        raise
    return True


class ScanRepository:
    """Reads and conditional writes of scan records in one DynamoDB table."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        """Use ``client`` (injected: tests and the local stack pass their own) on ``table_name``."""
        self._client = client
        self._table = table_name

    def create(self, record: ScanRecord, *, claim: str | None = None) -> bool:
        """Insert ``record`` unless the scan already exists; ``False`` means a duplicate (a no-op).

        ``claim`` stores a submit claim with the record, so its creator alone may submit the job.
        """
        item = to_item(record)
        if claim is not None:
            item["submit_claim"] = _value(claim)
            item["claimed_at"] = _value(record.created_at)
        return _conditionally(
            lambda: self._client.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(scan_id)"
            )
        )

    def get(self, scan_id: str, *, consistent: bool = True) -> ScanRecord | None:
        """The record of ``scan_id``, or ``None``."""
        response = self._client.get_item(
            TableName=self._table, Key={"scan_id": {"S": scan_id}}, ConsistentRead=consistent
        )
        item = response.get("Item")
        return from_item(item) if item else None

    def advance(
        self,
        scan_id: str,
        state: ScanState,
        fields: ScanFields | None = None,
        *,
        now: dt.datetime | None = None,
    ) -> bool:
        """Move the scan to ``state`` and set the ``fields`` given, only if that is forward progress.

        Returns ``False`` (and changes nothing) when the scan is missing, already at or past ``state``,
        or terminal: the caller treats that as a duplicate or late event.
        """
        moment = now or utc_now()
        names = {"#status": "status", "#ts": "timestamps", "#state": state.value}
        values = {
            ":status": _value(state.value),
            ":rank": _value(state.rank),
            ":updated": _value(iso(moment)),
            ":day": _value(status_day(state, moment)),
        }
        assignments = [
            "#status = :status",
            "status_rank = :rank",
            "updated_at = :updated",
            "status_day = :day",
            "#ts.#state = :updated",
        ]
        for index, (name, value) in enumerate(fields.assignments().items() if fields else ()):
            names[f"#f{index}"] = name
            values[f":f{index}"] = _value(value)
            assignments.append(f"#f{index} = :f{index}")
        return self._update_if(
            scan_id,
            UpdateExpression="SET " + ", ".join(assignments),
            ConditionExpression="attribute_exists(scan_id) AND status_rank < :rank",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def _update_if(self, scan_id: str, **request: Any) -> bool:
        """One conditional ``UpdateItem`` on ``scan_id``; ``False`` when its condition does not hold."""
        key = {"scan_id": {"S": scan_id}}
        return _conditionally(lambda: self._client.update_item(TableName=self._table, Key=key, **request))

    def set_fields(self, scan_id: str, fields: ScanFields) -> None:
        """Set the ``fields`` given (``None`` values skipped) without touching the state."""
        self._set(scan_id, fields.assignments())

    def touch(self, scan_id: str, moment: dt.datetime) -> None:
        """Mark a scan as looked at (``updated_at``, ``swept_at``) without changing anything else."""
        stamp = iso(moment)
        self._set(scan_id, {"updated_at": stamp, "swept_at": stamp})

    def _set(self, scan_id: str, assignments: dict[str, Any]) -> None:
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        for index, (name, value) in enumerate(assignments.items()):
            names[f"#f{index}"] = name
            values[f":f{index}"] = _value(value)
        if not names:
            return
        self._client.update_item(
            TableName=self._table,
            Key={"scan_id": {"S": scan_id}},
            UpdateExpression="SET " + ", ".join(f"{n} = {v}" for n, v in zip(names, values, strict=True)),
            ConditionExpression="attribute_exists(scan_id)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def claim_submit(self, scan_id: str, claim: str, *, stale_before: dt.datetime, now: dt.datetime) -> bool:
        """Take the right to submit the job of a QUEUED scan whose earlier claim is absent or stale."""
        queued = {":queued": _value(ScanState.QUEUED.value)}
        return self._claim(
            scan_id, _SUBMIT_CLAIM, claim, "#status = :queued", queued, stale_before=stale_before, now=now
        )

    def release_submit(self, scan_id: str, claim: str) -> None:
        """Give up a submit claim (SubmitJob failed), so the redelivered event may try again at once."""
        self._release(scan_id, _SUBMIT_CLAIM, claim)

    def _claim(
        self,
        scan_id: str,
        names: tuple[str, str],
        claim: str,
        condition: str,
        values: dict[str, Any],
        *,
        stale_before: dt.datetime,
        now: dt.datetime,
    ) -> bool:
        """Set the claim ``names`` (token, time) if ``condition`` holds and no live claim is there.

        A claim taken before ``stale_before`` is not live: its holder died.
        """
        token, taken = names
        request: dict[str, Any] = {
            "UpdateExpression": f"SET {token} = :claim, {taken} = :now",
            "ConditionExpression": f"{condition} AND (attribute_not_exists({token}) OR {taken} < :stale)",
            "ExpressionAttributeValues": {
                ":claim": _value(claim),
                ":now": _value(iso(now)),
                ":stale": _value(iso(stale_before)),
                **values,
            },
        }
        if "#status" in condition:  # DynamoDB refuses attribute names an expression does not use
            request["ExpressionAttributeNames"] = {"#status": "status"}
        return self._update_if(scan_id, **request)

    def _release(self, scan_id: str, names: tuple[str, str], claim: str) -> None:
        """Remove claim ``names`` if this caller's ``claim`` is the one held."""
        token, taken = names
        self._update_if(
            scan_id,
            UpdateExpression=f"REMOVE {token}, {taken}",
            ConditionExpression=f"{token} = :claim",
            ExpressionAttributeValues={":claim": _value(claim)},
        )

    def record_engines(self, scan_id: str, runs: dict[str, EngineRun]) -> bool:
        """Record the engines' jobs (``engines``) of a scan with none recorded yet, or still QUEUED.

        A QUEUED scan's map is rewritten (a claimant that took over records the jobs it adopted);
        once the scan moved on, a recorded map is never replaced: engines only move forward.
        """
        return self._update_if(
            scan_id,
            UpdateExpression="SET engines = :runs",
            ConditionExpression="attribute_exists(scan_id) AND "
            "(attribute_not_exists(engines) OR #status = :queued)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":runs": _value({name: run.model_dump(mode="json") for name, run in runs.items()}),
                ":queued": _value(ScanState.QUEUED.value),
            },
        )

    def progress_engine(
        self, scan_id: str, engine: str, *, job_id: str, running: bool, attempts: int, interruptions: int
    ) -> bool:
        """Move an engine's run forward: to ``running`` (from ``submitted``) and/or to more attempts.

        Only the run of job ``job_id`` that is not terminal moves; a stale or duplicate event, or
        one for a replaced job, changes nothing (``False``). Attempts only grow.
        """
        run = "engines.#e"
        forward = f"{run}.attempts < :attempts"
        assignments = [f"{run}.attempts = :attempts", f"{run}.interruptions = :interruptions"]
        if running:
            forward = f"{run}.#state = :submitted OR {forward}"
            assignments.append(f"{run}.#state = :running")
        return self._update_if(
            scan_id,
            UpdateExpression="SET " + ", ".join(assignments),
            ConditionExpression=f"{run}.job_id = :job AND {run}.#state IN (:submitted, :running) "
            f"AND ({forward})",
            ExpressionAttributeNames={"#e": engine, "#state": "state"},
            ExpressionAttributeValues={
                ":job": _value(job_id),
                ":submitted": _value(EngineJobState.SUBMITTED.value),
                ":running": _value(EngineJobState.RUNNING.value),
                ":attempts": _value(attempts),
                ":interruptions": _value(interruptions),
            },
        )

    def replace_engine_run(
        self, scan_id: str, engine: str, run: EngineRun, *, job_id: str
    ) -> ScanRecord | None:
        """Replace engine ``engine``'s run if it is job ``job_id``'s and not terminal; the new record.

        How a run ends (terminal state, exit code, cost) and how it is escalated (a new job) are
        written; ``None`` when the condition does not hold (a duplicate, or an event for a job
        the run no longer tracks): the caller treats it as a no-op.
        """
        request: Any = {
            "TableName": self._table,
            "Key": {"scan_id": {"S": scan_id}},
            "UpdateExpression": "SET engines.#e = :run",
            "ConditionExpression": "engines.#e.job_id = :job AND engines.#e.#state IN (:submitted, :running)",
            "ExpressionAttributeNames": {"#e": engine, "#state": "state"},
            "ExpressionAttributeValues": {
                ":run": _value(run.model_dump(mode="json")),
                ":job": _value(job_id),
                ":submitted": _value(EngineJobState.SUBMITTED.value),
                ":running": _value(EngineJobState.RUNNING.value),
            },
            "ReturnValues": "ALL_NEW",
        }
        updated: list[dict[str, Any]] = []
        if not _conditionally(lambda: updated.append(dict(self._client.update_item(**request)))):
            return None
        return from_item(updated[0]["Attributes"])

    def claim_analysis(
        self, scan_id: str, claim: str, *, stale_before: dt.datetime, now: dt.datetime
    ) -> bool:
        """Take the right to conclude an unfinished scan whose analysis claim is absent or stale.

        The fan-in calls this once every engine is terminal: exactly one caller concludes; one
        that died leaves a claim the next event or the sweeper takes over once it is stale.
        """
        unfinished = {":terminal": _value(ScanState.COMPLETE.rank)}
        condition = "attribute_exists(scan_id) AND status_rank < :terminal"
        return self._claim(
            scan_id, _ANALYSIS_CLAIM, claim, condition, unfinished, stale_before=stale_before, now=now
        )

    def release_analysis(self, scan_id: str, claim: str) -> None:
        """Give up an analysis claim (the conclusion failed), so a retry may conclude at once."""
        self._release(scan_id, _ANALYSIS_CLAIM, claim)

    def record_attempt(self, scan_id: str, attempt: Attempt) -> bool:
        """Record a Batch attempt: append it once, then complete it once when it has ended.

        Attempts arrive in order. An attempt first seen in progress is replaced by its ended snapshot
        (stop time, exit code, reason); an ended attempt is final, so repeats and older snapshots are
        no-ops. ``True`` when something changed.
        """
        return self._append_attempt(scan_id, attempt) or (
            attempt.ended and self._complete_attempt(scan_id, attempt)
        )

    def _append_attempt(self, scan_id: str, attempt: Attempt) -> bool:
        return self._update_if(
            scan_id,
            UpdateExpression="SET attempts = list_append(if_not_exists(attempts, :empty), :new), "
            "attempt_count = :number",
            ConditionExpression="attribute_exists(scan_id) AND "
            "(attribute_not_exists(attempt_count) OR attempt_count < :number)",
            ExpressionAttributeValues={
                ":empty": {"L": []},
                ":new": {"L": [_value(attempt.model_dump(mode="json", exclude_none=True))]},
                ":number": _value(attempt.number),
            },
        )

    def _complete_attempt(self, scan_id: str, attempt: Attempt) -> bool:
        # A list index cannot be an expression value; ``number`` is a validated int (Batch: 1-10).
        path = f"attempts[{int(attempt.number) - 1}]"
        return self._update_if(
            scan_id,
            UpdateExpression=f"SET {path} = :ended",
            ConditionExpression=f"attempt_count >= :number AND attribute_not_exists({path}.stopped_at)",
            ExpressionAttributeValues={
                ":ended": _value(attempt.model_dump(mode="json", exclude_none=True)),
                ":number": _value(attempt.number),
            },
        )

    def stuck(self, state: ScanState, older_than: dt.datetime, days: int, limit: int) -> list[ScanRecord]:
        """Scans in ``state`` last updated before ``older_than`` (``days`` days back, ``limit`` at most)."""
        found: list[ScanRecord] = []
        for offset in range(days):
            day = older_than - dt.timedelta(days=offset)
            partition = status_day(state, day)
            found.extend(self._query_status_day(partition, before=iso(older_than), limit=limit - len(found)))
            if len(found) >= limit:
                break
        return found

    def _query_status_day(self, partition: str, *, before: str, limit: int) -> list[ScanRecord]:
        records: list[ScanRecord] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": BY_STATUS_INDEX,
            "KeyConditionExpression": "status_day = :day AND updated_at < :before",
            "ExpressionAttributeValues": {":day": {"S": partition}, ":before": {"S": before}},
        }
        while len(records) < limit:
            response = self._client.query(**kwargs, Limit=limit - len(records))
            records.extend(from_item(item) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return records

    def find_by_content(self, content_key: str) -> ScanRecord | None:
        """A completed scan of identical content with the same scanner version (the content cache)."""
        response = self._client.query(
            TableName=self._table,
            IndexName=BY_CONTENT_INDEX,
            KeyConditionExpression="content_key = :key",
            FilterExpression="#status = :complete",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":key": {"S": content_key}, ":complete": {"S": ScanState.COMPLETE}},
        )
        items = response.get("Items", [])
        return from_item(items[0]) if items else None

    def latest_for_object(self, bucket: str, key: str, version_id: str | None) -> ScanRecord | None:
        """The most recently created scan of one object version (``ByObject``), or ``None``."""
        response = self._client.query(
            TableName=self._table,
            IndexName=BY_OBJECT_INDEX,
            KeyConditionExpression="object_ref = :ref",
            ExpressionAttributeValues={":ref": {"S": object_ref(bucket, key, version_id)}},
            ScanIndexForward=False,
            Limit=1,
        )
        items = response.get("Items", [])
        return from_item(items[0]) if items else None

    def list_by_status(self, position: StatusPosition, limit: int) -> StatusPage:
        """Up to ``limit`` scans from ``position`` on, newest first, across the day partitions.

        A time-ranged listing walks the days from ``until`` back to ``since``, each with a descending
        Query; the next position records the day and DynamoDB's key inside it.
        """
        records: list[ScanRecord] = []
        day, last_key = position.day, position.last_key
        first_day = dt.date.fromisoformat(position.since[:10])
        while day >= first_day:
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": BY_STATUS_INDEX,
                "KeyConditionExpression": "status_day = :day AND updated_at BETWEEN :since AND :until",
                "ExpressionAttributeValues": {
                    ":day": {"S": status_day(position.status, day)},
                    ":since": {"S": position.since},
                    ":until": {"S": position.until},
                },
                "ScanIndexForward": False,
                "Limit": limit - len(records),
            }
            if last_key is not None:
                kwargs["ExclusiveStartKey"] = {name: {"S": value} for name, value in last_key.items()}
            response = self._client.query(**kwargs)
            records.extend(from_item(item) for item in response.get("Items", []))
            evaluated = response.get("LastEvaluatedKey")
            last_key = {name: str(evaluated[name]["S"]) for name in STATUS_INDEX_KEY} if evaluated else None
            if last_key is None:
                day -= dt.timedelta(days=1)
            if len(records) >= limit:
                break
        more = day >= first_day
        following = dataclasses.replace(position, day=day, last_key=last_key) if more else None
        return StatusPage(records, following)
