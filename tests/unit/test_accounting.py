"""The chaos accounting can fail: it sees loss, unrecognisable duplicates, mixed tenants,
out-of-order predictions and leaked secrets when they are there."""

from __future__ import annotations

import json

from tests.accounting import (
    PRESIGNED_SIGNATURE,
    InputRecord,
    OutputRecord,
    OutputTopics,
    SecretProbe,
    account,
    ce_id_collisions,
    isolation_violations,
    misrouted,
    order_violations,
    token_shape,
)

TOPICS = OutputTopics("pred", "failed", "dlq", "class", "sales")


def given_input(
    offset: int, tenant: str = "t1", dataset: str = "d1", valid: bool = True
) -> InputRecord:
    return InputRecord(
        partition=0,
        offset=offset,
        key=tenant.encode(),
        value=f"value-{offset}".encode(),
        timestamp_ms=1_000,
        valid=valid,
        tenant=tenant,
        dataset=dataset,
        transaction_ids=frozenset({f"{dataset}-{offset}"}) if valid else frozenset(),
    )


def output(
    offsets: list[int],
    ce_id: str,
    *,
    topic: str = "pred",
    tenant: str = "t1",
    dataset: str = "d1",
    at: int = 0,
    extra: dict[str, object] | None = None,
) -> OutputRecord:
    body = {
        "tenantId": tenant,
        "datasetId": dataset,
        "source": {"partition": 0, "offsets": offsets, "transactions": len(offsets)},
        **(extra or {}),
    }
    headers = (("ce_id", ce_id.encode()), ("ce_subject", f"{tenant}/{dataset}".encode()))
    return OutputRecord(topic, 0, at, tenant.encode(), json.dumps(body).encode(), headers, 3_000)


def letter(item: InputRecord, at: int = 0) -> OutputRecord:
    headers = (
        ("dlq.error.reason", b"schema"),
        ("dlq.error.message", b"bad"),
        ("dlq.source.topic", b"sales"),
        ("dlq.source.partition", b"0"),
        ("dlq.source.offset", str(item.offset).encode()),
    )
    return OutputRecord("dlq", 0, at, item.key, item.value, headers, 2_000)


def test_an_input_without_outcome_is_lost_and_one_with_an_outcome_is_accounted() -> None:
    """Two inputs, one output naming the first: one lost, one accounted, e2e 2 s."""
    inputs = [given_input(0), given_input(1)]
    acc = account(inputs, [output([0], "a")], TOPICS)
    assert acc.lost == [(0, 1)]
    assert acc.accounted == 1
    assert acc.e2e_seconds == [2.0]


def test_a_repeat_with_the_same_ce_id_is_a_recognisable_duplicate() -> None:
    """The same event twice: a duplicate, recognisable."""
    acc = account([given_input(0)], [output([0], "a"), output([0], "a", at=1)], TOPICS)
    assert (acc.duplicated_inputs, acc.duplicate_records, acc.duplicate_ce_ids) == (1, 1, 1)
    assert acc.unrecognisable == []
    assert acc.duplicate_rate == 1.0


def test_two_outcomes_with_different_ids_are_unrecognisable() -> None:
    """A prediction and a DLQ record, or two ce_ids, for one input cannot be told apart."""
    item = given_input(0)
    acc = account([item], [output([0], "a"), output([0], "b", at=1)], TOPICS)
    assert acc.unrecognisable == [(0, 0)]
    acc = account([item], [output([0], "a"), letter(item)], TOPICS)
    assert acc.unrecognisable == [(0, 0)]


def test_dlq_records_are_accounted_by_their_source_headers() -> None:
    """A DLQ record names its input through dlq.source.* and must keep key and bytes."""
    item = given_input(3, valid=False)
    assert account([item], [letter(item)], TOPICS).lost == []
    assert isolation_violations([item], [letter(item)], TOPICS) == []
    changed = OutputRecord("dlq", 0, 0, b"t2", b"other", letter(item).headers, 0)
    assert len(isolation_violations([item], [changed], TOPICS)) == 1


def test_an_output_covering_another_tenants_input_is_an_isolation_violation() -> None:
    """tenantId/key/subject of an output must match every input it covers, and so must the
    number of transactions it claims."""
    mine, theirs = given_input(0, "t1"), given_input(1, "t2")
    problems = isolation_violations([mine, theirs], [output([0, 1], "a")], TOPICS)
    assert any("covers input (0, 1) of t2/d1" in p for p in problems)
    assert isolation_violations([mine], [output([0], "a")], TOPICS) == []
    overclaimed = output(
        [0], "a", extra={"source": {"partition": 0, "offsets": [0], "transactions": 7}}
    )
    assert any(
        "source.transactions" in p for p in isolation_violations([mine], [overclaimed], TOPICS)
    )


def test_a_final_state_outside_the_allowed_ones_is_reported() -> None:
    """An invalid input must end in the DLQ, not as a prediction."""
    bad = given_input(0, valid=False)
    problems = misrouted([bad], [output([0], "a")], TOPICS, lambda i: frozenset({"dlq"}))
    assert len(problems) == 1
    failed = output([0], "f", topic="failed", extra={"stage": "validation"})
    assert (
        misrouted([bad], [failed], TOPICS, lambda i: frozenset({"dataset-failed:validation"})) == []
    )


def test_predictions_of_a_dataset_out_of_input_order_are_reported() -> None:
    """A later prediction covering earlier offsets is out of order; a replay is not."""
    first, second = output([5], "a", at=0), output([9], "b", at=1)
    assert order_violations([first, second, output([5], "a", at=2)], TOPICS) == []
    assert len(order_violations([second, output([5], "a", at=1)], TOPICS)) == 1


def test_the_secret_probe_finds_exact_secrets_and_shapes_without_repeating_them() -> None:
    """Client secret, token shape and unmasked presigned signatures are found; masks are not."""
    token = "ioe.eyJjaWQiOiJ4In0abc.0123456789abcdef0123"
    probe = SecretProbe(
        exact={"client secret": "s3cr3t-value"},
        shapes={"access token": token_shape(token), "presigned signature": PRESIGNED_SIGNATURE},
    )
    text = (
        "secret s3cr3t-value; Bearer ioe.eyJjaWQiOiJ5In0xyz.fedcba9876543210fe; "
        "url?signature=abcdef0123456789"
    )
    found = probe.findings("log", text)
    assert len(found) == 3
    assert all("s3cr3t-value" not in f for f in found)
    assert probe.findings("log", "url?*** signature=*** Bearer ***") == []


def test_one_ce_id_on_events_covering_different_inputs_is_a_collision() -> None:
    """A replay (same inputs) may repeat a ce_id; a different event may not."""
    failed: dict[str, object] = {"stage": "validation"}
    first = output([14], "x", topic="failed", extra=failed)
    replay = output([14], "x", topic="failed", at=1, extra=failed)
    other = output([34, 39], "x", topic="failed", at=2, extra=failed)
    assert ce_id_collisions([first, replay], TOPICS) == []
    assert len(ce_id_collisions([first, other], TOPICS)) == 1
