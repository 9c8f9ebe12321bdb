"""The run state machine, driven with an injected clock and scripted API answers."""

from __future__ import annotations

from service.domain.runs import (
    Fetch,
    JobKind,
    Plan,
    Poll,
    PollPolicy,
    Run,
    RunKind,
    RunState,
    StartJob,
    Upload,
    Wait,
)

POLICY = PollPolicy(
    first_seconds=1.0,
    max_seconds=8.0,
    timeouts=dict.fromkeys(JobKind, 100.0),
)


def new_run(*plans: Plan) -> Run:
    plans = plans or (Plan("d1", train=True, offsets=(1,)), Plan("d2", offsets=(2, 3)))
    return Run(
        "r1",
        "t",
        0,
        RunKind.PREDICTION,
        RunState.UPLOADING,
        plans,
        frozenset(p.dataset for p in plans),
        0.0,
        0.0,
    )


def validated(run: Run, now: float = 1.0, failures: dict[str, str] | None = None) -> Run:
    run = run.job_started(JobKind.VALIDATION, "v1", now, POLICY)
    ok: tuple[str, str | None] = ("success", None)
    per = dict.fromkeys(run.active, ok)
    per |= {d: ("invalid", m) for d, m in (failures or {}).items()}
    status = "failed" if failures else "success"
    return run.job_status(status, per, None, now + 2, POLICY).run


def test_a_new_run_uploads_its_datasets_first() -> None:
    """UPLOADING asks for an upload of every active dataset, and is not handed off yet."""
    run = new_run()
    assert run.next_action(0, POLICY) == Upload(("d1", "d2"))
    assert not run.handed_off


def test_polls_back_off_from_the_first_interval_to_the_cap_with_jitter() -> None:
    """Intervals double from ~1 s to the cap, jittered by up to 20 % but never past the cap."""
    intervals = [POLICY.interval("job", n) for n in range(8)]
    assert 0.8 <= intervals[0] <= 1.2
    assert all(6.4 <= i <= 8.0 for i in intervals[4:])
    assert intervals[1] > intervals[0] * 1.3


def test_jitter_never_makes_a_wait_longer_than_the_cap_but_still_spreads_below_it() -> None:
    """Across many jobs at the cap, waits stay within [0.8 × cap, cap] and are not all equal."""
    waits = [POLICY.interval(f"job-{n}", polls) for n in range(500) for polls in (3, 4, 30)]
    assert max(waits) == POLICY.max_seconds
    assert min(waits) >= 0.8 * POLICY.max_seconds
    assert len({round(w, 3) for w in waits}) > 100


def test_waiting_then_polling_follows_the_schedule() -> None:
    """Before the next poll time the run waits; at it, it polls."""
    run = new_run().job_started(JobKind.VALIDATION, "v1", 10.0, POLICY)
    assert run.state is RunState.VALIDATING
    assert run.job is not None
    assert isinstance(run.next_action(10.0, POLICY), Wait)
    assert isinstance(run.next_action(run.job.next_poll_at, POLICY), Poll)


def test_in_progress_and_unknown_statuses_keep_polling() -> None:
    """inProgress, or a status value nobody documented, schedules another poll."""
    run = new_run().job_started(JobKind.VALIDATION, "v1", 0.0, POLICY)
    for status in ("inProgress", "queued-for-gpu"):
        step = run.job_status(status, {}, None, 5.0, POLICY)
        assert step.run.state is RunState.VALIDATING
        assert step.failures == ()
        assert step.run.job is not None
        assert step.run.job.polls == 1


def test_validation_success_goes_to_training_when_a_dataset_needs_it() -> None:
    """After validation the run is handed off and trains only the datasets that need it."""
    run = validated(new_run())
    assert (run.state, run.handed_off) == (RunState.TRAINING, True)
    action = run.next_action(5.0, POLICY)
    assert isinstance(action, StartJob)
    assert [p.dataset for p in action.plans] == ["d1"]


def test_without_training_needs_the_run_goes_straight_to_prediction() -> None:
    """No dataset needs training: PREDICTING follows validation."""
    run = validated(new_run(Plan("d1"), Plan("d2")))
    assert run.state is RunState.PREDICTING


def test_one_invalid_dataset_fails_alone_and_the_rest_is_uploaded_again() -> None:
    """A per-dataset validation failure becomes a Failure; the others re-upload and go on."""
    run = new_run().job_started(JobKind.VALIDATION, "v1", 1.0, POLICY)
    step = run.job_status(
        "failed",
        {"d1": ("invalid", "bad date"), "d2": ("success", None)},
        "1 dataset invalid",
        3.0,
        POLICY,
    )
    assert [(f.dataset, f.stage, f.reason) for f in step.failures] == [
        ("d1", "validation", "bad date")
    ]
    assert step.run.state is RunState.UPLOADING
    assert step.run.active == {"d2"}
    assert step.run.next_action(3.0, POLICY) == Upload(("d2",))


def test_a_failed_job_without_per_dataset_entries_fails_all_its_datasets_with_its_message() -> None:
    """Top-level failure, empty datasetsStatus: every dataset of the job fails with the message."""
    run = validated(new_run()).job_started(JobKind.TRAINING, "tr1", 5.0, POLICY)
    step = run.job_status("failed", {}, "not enough history", 9.0, POLICY)
    assert [(f.dataset, f.reason) for f in step.failures] == [("d1", "not enough history")]
    assert step.run.state is RunState.PREDICTING
    assert step.run.active == {"d2"}


def test_the_whole_prediction_life_cycle_ends_done_after_fetching() -> None:
    """validation → training → prediction → fetch → DONE, recording what was trained."""
    run = validated(new_run()).job_started(JobKind.TRAINING, "tr1", 5.0, POLICY)
    run = run.job_status("success", {}, None, 6.0, POLICY).run
    assert run.trained == {"d1"}
    run = run.job_started(JobKind.PREDICTION, "p1", 7.0, POLICY)
    run = run.job_status("success", {}, None, 8.0, POLICY).run
    action = run.next_action(8.0, POLICY)
    assert isinstance(action, Fetch)
    assert action.job_id == "p1"
    step = run.fetched({}, 9.0)
    assert (step.run.state, step.run.finished, step.failures) == (RunState.DONE, True, ())
    assert step.run.next_action(9.0, POLICY) is None


def test_a_dataset_missing_from_the_results_fails_at_the_results_stage() -> None:
    """Results without an entry for a dataset: dataset-failed at stage results."""
    run = validated(new_run(Plan("d1"), Plan("d2"))).job_started(
        JobKind.PREDICTION, "p1", 5.0, POLICY
    )
    run = run.job_status("success", {}, None, 6.0, POLICY).run
    step = run.fetched({"d2": "no entry"}, 7.0)
    assert [(f.dataset, f.stage) for f in step.failures] == [("d2", "results")]
    assert step.run.state is RunState.DONE


def test_a_job_past_its_timeout_fails_its_datasets_with_the_reason() -> None:
    """Past the kind's timeout the run polls once more; still in progress, its datasets fail."""
    run = validated(new_run(Plan("d1"), Plan("d2"))).job_started(
        JobKind.PREDICTION, "p1", 5.0, POLICY
    )
    assert isinstance(run.next_action(105.0, POLICY), Poll)
    step = run.job_status("inProgress", {}, None, 105.0, POLICY)
    assert {f.stage for f in step.failures} == {"timeout"}
    assert "did not finish" in step.failures[0].reason
    assert step.run.state is RunState.FAILED


def test_a_job_that_ended_while_nobody_polled_is_taken_even_past_its_timeout() -> None:
    """After a long outage the job's success is used, not thrown away as a timeout."""
    run = validated(new_run(Plan("d1"))).job_started(JobKind.PREDICTION, "p1", 5.0, POLICY)
    assert isinstance(run.next_action(500.0, POLICY), Poll)
    step = run.job_status("success", {}, None, 500.0, POLICY)
    assert (step.run.state, step.failures) == (RunState.FETCHING, ())


def test_a_refused_upload_fails_every_dataset_and_the_run() -> None:
    """A non-retriable upload error: all datasets fail at stage upload; the run is FAILED."""
    step = new_run().step_failed("400 bad request", 1.0, POLICY)
    assert {f.stage for f in step.failures} == {"upload"}
    assert len(step.failures) == 2
    assert step.run.state is RunState.FAILED
    assert step.run.handed_off


def test_a_classification_run_classifies_then_fetches() -> None:
    """Classification runs start a classification job and fetch its results."""
    run = Run(
        "c1",
        "t",
        0,
        RunKind.CLASSIFICATION,
        RunState.CLASSIFYING,
        (Plan("d1"),),
        frozenset({"d1"}),
        0.0,
        0.0,
    )
    assert run.handed_off
    action = run.next_action(0.0, POLICY)
    assert isinstance(action, StartJob)
    assert action.kind is JobKind.CLASSIFICATION
    run = run.job_started(JobKind.CLASSIFICATION, "c-job", 1.0, POLICY)
    run = run.job_status("success", {}, None, 2.0, POLICY).run
    fetch = run.next_action(2.0, POLICY)
    assert isinstance(fetch, Fetch)
    assert fetch.kind is JobKind.CLASSIFICATION
    assert run.fetched({}, 3.0).run.state is RunState.DONE
