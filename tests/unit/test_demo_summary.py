"""The demo's bookkeeping: when a run is complete, each dataset's outcome, the per-tenant table."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from service.devkit.demo_outcomes import Expected, Kind, Outcomes, Received
from service.devkit.demo_summary import (
    TenantRow,
    api_calls,
    api_errors,
    as_json,
    diagnosis,
    tenant_rows,
    total_row,
)
from service.devkit.sample_model import TenantSummary


def record(kind: Kind, data: dict[str, Any] | bytes, *, at: int = 0, key: str = "t1") -> Received:
    value = data if isinstance(data, bytes) else json.dumps(data).encode()
    return Received(kind, f"topic-{kind}", 0, 0, key.encode(), value, (), at)


def prediction(dataset: str, offsets: list[int], *, tenant: str = "t1", at: int = 0) -> Received:
    body = {
        "tenantId": tenant,
        "datasetId": dataset,
        "source": {"partition": 0, "offsets": offsets},
    }
    return record("prediction", body, at=at, key=tenant)


def failed(dataset: str, offsets: list[int], stage: str, *, at: int = 0) -> Received:
    body = {
        "tenantId": "t1",
        "datasetId": dataset,
        "stage": stage,
        "source": {"partition": 0, "offsets": offsets},
    }
    return record("failed", body, at=at)


def classified(dataset: str, abc: str, demand: str, *, tenant: str = "t1", at: int = 0) -> Received:
    body = {"tenantId": tenant, "datasetId": dataset, "abcCategory": abc, "demandType": demand}
    return record("classification", body, at=at, key=tenant)


def expected() -> Expected:
    """Dataset a: offsets 0 and 2; b: offset 1; one invalid record; both priced."""
    return Expected(
        offsets={(0, 0): ("t1", "a"), (0, 1): ("t1", "b"), (0, 2): ("t1", "a")},
        invalid=Counter({"t1": 1}),
        priced={("t1", "a"), ("t1", "b")},
    )


def test_a_run_is_complete_only_when_every_input_dlq_record_and_classification_arrived() -> None:
    """Each missing piece (an offset, the DLQ record, a classification) keeps it incomplete."""
    outcomes = Outcomes(expected())
    outcomes.add_all([prediction("a", [0], at=10), prediction("b", [1], at=10)])
    assert outcomes.missing() == {(0, 2)}
    outcomes.add(prediction("a", [2], at=20))
    assert not outcomes.missing()
    assert outcomes.unclassified() == {("t1", "a"), ("t1", "b")}
    outcomes.add_all([classified("a", "A", "smooth", at=30), classified("b", "C", "lumpy", at=30)])
    assert outcomes.dlq_missing() == 1
    assert not outcomes.complete()
    outcomes.add(record("dlq", b"{not json"))
    assert outcomes.complete()


def test_a_classification_older_than_the_last_prediction_does_not_count() -> None:
    """The classification that follows a dataset's last prediction is the one that saw it all."""
    outcomes = Outcomes(expected())
    outcomes.add_all([prediction("b", [1], at=10), classified("b", "A", "smooth", at=15)])
    outcomes.add(prediction("b", [1], at=20))  # predicted again (a replay): needs a new one
    assert ("t1", "b") in outcomes.unclassified()
    outcomes.add(failed("b", [], "classification", at=25))
    assert ("t1", "b") not in outcomes.unclassified()


def test_a_run_with_only_older_classifications_is_settled_but_not_complete() -> None:
    """Settled (enough once the service is idle) needs some classification, complete a later one."""
    outcomes = Outcomes(expected())
    outcomes.add_all([classified("a", "A", "smooth", at=5), classified("b", "B", "lumpy", at=5)])
    outcomes.add_all([prediction("a", [0, 2], at=10), prediction("b", [1], at=10)])
    outcomes.add(record("dlq", b"x"))
    assert outcomes.settled()
    assert not outcomes.complete()
    lines = diagnosis(outcomes)
    assert lines[0].startswith("2 priced datasets were last classified before their last")


def test_the_final_outcome_of_a_dataset_is_the_event_covering_its_newest_input() -> None:
    """A failure of an older batch is superseded by the later prediction, whatever the order."""
    outcomes = Outcomes(expected())
    outcomes.add_all([prediction("a", [2]), failed("a", [0], "validation")])
    final = outcomes.finals["t1", "a"]
    assert (final.status, final.last_offset) == ("predicted", 2)
    assert outcomes.datasets_done() == 1  # b has not arrived


def test_unparsable_output_records_are_counted_but_change_no_outcome() -> None:
    """A body that is not a JSON object is kept in the counts only."""
    outcomes = Outcomes(expected())
    outcomes.add(record("prediction", b"[1, 2]"))
    assert outcomes.received["prediction"] == 1
    assert outcomes.finals == {}


def test_tenant_rows_count_outcomes_classes_and_dlq_records_per_tenant() -> None:
    """Predicted, failed, classified, ABC and demand-type counts come from the outcomes."""
    exp = Expected(
        offsets={(0, 0): ("t1", "a"), (0, 1): ("t1", "b"), (1, 0): ("t2", "c")},
        invalid=Counter({"t1": 2}),
        priced={("t1", "a"), ("t1", "b")},
    )
    outcomes = Outcomes(exp)
    outcomes.add_all(
        [
            prediction("a", [0]),
            failed("b", [1], "validation"),
            prediction("c", [0], tenant="t2"),
            classified("a", "A", "smooth"),
            record("dlq", b"x"),
            record("dlq", b"y"),
        ]
    )
    samples = {
        "t1": TenantSummary(datasets=2, datasets_with_prices=2, valid_events=2, invalid_events=2),
        "t2": TenantSummary(datasets=1, valid_events=1),
    }
    rows = tenant_rows(samples, outcomes)
    assert rows[0] == TenantRow("t1", 2, 2, 2, 2, 2, 1, 1, 1, abc={"A": 1}, demand={"smooth": 1})
    assert (rows[1].predicted, rows[1].classified, rows[1].dlq) == (1, 0, 0)
    assert [p for r in rows for p in r.problems()] == []


def test_the_total_row_sums_every_column_and_class() -> None:
    """Counts and class tallies add up across tenants."""
    rows = [
        TenantRow("t1", 3, 2, 9, 1, 1, 3, 0, 2, abc={"A": 1, "C": 1}, demand={"smooth": 2}),
        TenantRow("t2", 2, 2, 6, 0, 0, 1, 1, 1, abc={"A": 1}, demand={"lumpy": 1}),
    ]
    total = total_row(rows)
    assert (total.tenant, total.datasets, total.events, total.predicted, total.failed) == (
        "total",
        5,
        15,
        4,
        1,
    )
    assert total.abc == {"A": 2, "C": 1}
    assert total.demand == {"smooth": 2, "lumpy": 1}


def test_inconsistent_rows_name_what_does_not_add_up() -> None:
    """Outcomes that do not cover every dataset, or DLQ counts that differ, are reported."""
    row = TenantRow(
        "t1", datasets=3, priced=1, events=3, invalid=2, dlq=1, predicted=1, failed=1, classified=2
    )
    problems = row.problems()
    assert len(problems) == 3
    assert "1 predicted + 1 failed != 3 datasets" in problems[0]


def test_api_calls_are_summed_per_operation_from_the_emulator_stats() -> None:
    """``calls: {operation: {status: n}}`` becomes calls per operation; errors are 4xx/5xx."""
    stats = {"calls": {"status": {"200": 10, "404": 2}, "token": {"200": 1}, "results": {"500": 1}}}
    assert api_calls(stats) == {"results": 1, "status": 12, "token": 1}
    assert api_errors(stats) == 3
    assert api_calls({}) == {}


def test_the_summary_json_carries_rows_total_calls_and_seconds() -> None:
    """What summary.json holds, JSON-serialisable."""
    rows = [TenantRow("t1", 1, 1, 1, 0, 0, 1, 0, 1, abc={"A": 1}, demand={"smooth": 1})]
    body = as_json(rows, {"calls": {"token": {"200": 1}}}, 12.34)
    assert json.loads(json.dumps(body))["total"]["predicted"] == 1
    assert body["api_calls"] == {"token": 1}
    assert body["seconds"] == 12.3


def test_the_diagnosis_names_the_datasets_still_waiting() -> None:
    """Missing inputs, missing classifications and missing DLQ records, with examples."""
    outcomes = Outcomes(expected())
    outcomes.add(prediction("b", [1], at=5))
    lines = diagnosis(outcomes)
    assert lines[0].startswith("2 valid input records of 1 datasets")
    assert "t1/a" in lines[1]
    assert "1 priced datasets predicted but never classified" in lines[2]
    assert lines[-1] == "1 invalid records not (yet) in the DLQ"
    assert diagnosis(Outcomes(Expected())) == []
