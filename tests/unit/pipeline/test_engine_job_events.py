"""A multi-container engine job's state change event: its exit code and size are its task's."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from filescan_shared.batch_events import parse_job_event
from filescan_shared.exit_codes import ExitCode
from filescan_shared.pipeline.cost import FargatePrices, estimate_job_cost

EVENT = Path(__file__).parents[3] / "events" / "analysis_engine_job_unscannable.json"


def test_given_an_engine_job_event_when_parsed_then_the_exit_code_is_the_essential_containers() -> None:
    detail = parse_job_event(json.loads(EVENT.read_text()))

    assert detail is not None
    assert detail.engine == "clamav"
    # fetch 0, engine 2, collect (essential) 65: the attempt ended as collect did.
    assert detail.last_exit_code == ExitCode.UNSCANNABLE
    [attempt] = detail.recorded_attempts()
    assert attempt.exit_code == ExitCode.UNSCANNABLE
    assert attempt.log_stream == "engine/collect/1a2b3c"


def test_given_an_engine_job_event_when_its_cost_is_estimated_then_every_container_is_counted() -> None:
    detail = parse_job_event(json.loads(EVENT.read_text()))
    assert detail is not None

    sizes = {requirement.type: requirement.value for requirement in detail.resource_requirements}
    cost = estimate_job_cost(detail, prices=FargatePrices(), spot=True)

    assert sizes == {"VCPU": "2", "MEMORY": "4096"}
    # Without the task's sizes the estimate falls back to 1 vCPU / 2 GB: exactly half.
    unsized = estimate_job_cost(
        detail.model_copy(update={"ecs_properties": None}), prices=FargatePrices(), spot=True
    )
    assert Decimal(str(cost["usd"])) == 2 * Decimal(str(unsized["usd"])) > 0
