"""``io-bridge demo``: the whole path on one machine, from sample ERP data to plots.

Starts a Kafka broker, the IO API emulator and io-bridge (:mod:`service.devkit.demo_stack`),
streams the seeded sample data (valid and deliberately invalid sales-updated events) into the
input topic, reads the output topics while showing progress, and stops when every valid input
record has an outcome and every priced dataset was classified after its last prediction. Then it
stops everything, writes ``--out`` (JSONL per output topic, plots, ``summary.json``, logs) and
prints a per-tenant summary. Ctrl-C stops everything too; exit codes: 0 done, 1 failed or timed
out (with a diagnosis), 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib.util
import signal
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.live import Live

from service.config import Settings
from service.devkit import demo_output, demo_summary, demo_view
from service.devkit.demo_kafka import OutputReader, produce
from service.devkit.demo_metrics import Snapshot
from service.devkit.demo_outcomes import Expected, Outcomes, Received
from service.devkit.demo_procs import DemoError
from service.devkit.demo_stack import Stack, start
from service.devkit.sample_data import DEFAULT_END, generate, summarize
from service.devkit.sample_events import events as sample_events
from service.devkit.sample_model import SampleData, SampleEvent

TICK_S = 0.5
LOG_EVERY_S = 5.0
QUIET_S = 5.0


def run(args: argparse.Namespace) -> int:
    """The ``io-bridge demo`` command."""
    console = demo_view.console()
    return asyncio.run(_main(Demo(args, console)))


async def _main(demo: Demo) -> int:
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    interrupted: list[int] = []

    def interrupt(sig: signal.Signals) -> None:
        interrupted.append(sig)
        if task is not None:
            task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupt, sig)
    try:
        return await demo.run()
    except asyncio.CancelledError:
        if not interrupted:
            raise
        demo.console.print("[yellow]interrupted: stopping everything[/]")
        return 130
    except DemoError as exc:
        demo.console.print(f"[bold red]demo failed:[/] {exc}")
        return 1
    finally:
        await demo.settle()
        demo.shutdown()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


class Demo:
    """One demo run; :meth:`shutdown` is safe at any point and more than once."""

    def __init__(self, args: argparse.Namespace, console: Console) -> None:
        self.args = args
        self.console = console
        self.out: Path = args.out
        self.began = time.monotonic()
        self.stack: Stack | None = None
        self.snapshot = Snapshot()
        self.sent = 0
        self.quiet_since: float | None = None
        self.starting: asyncio.Task[None] | None = None

    def say(self, text: str) -> None:
        self.console.print(
            f"[dim][{time.monotonic() - self.began:5.1f}s][/] {text}", soft_wrap=True
        )

    async def run(self) -> int:
        if importlib.util.find_spec("matplotlib") is None:  # needed only at the end: fail first
            raise DemoError("matplotlib is missing: pip install -e '.[emulator,demo]'")
        today = DEFAULT_END + dt.timedelta(days=1)
        logs = self.out / demo_output.LOGS
        self.stack = Stack.plan(self.args.home, logs, self.args.bootstrap, today, Settings())
        demo_output.prepare(self.out)
        self.stack.clean_up_stale()
        self.say("starting Kafka, the IO API emulator and io-bridge; generating the sample")
        self.starting = asyncio.create_task(start(self.stack))
        data, records = await asyncio.to_thread(self._sample)
        await self.starting
        self._announce(self.stack)
        outcomes, complete = await self._stream(self.stack, data, records)
        stats = await self._emulator_stats()
        if not complete:
            self.shutdown()
            self._diagnose(outcomes, stats)
            return 1
        # Plotting is CPU work and stopping mostly waiting: overlap them.
        plots, _ = await asyncio.gather(
            asyncio.to_thread(self._plots, data, outcomes), asyncio.to_thread(self.shutdown)
        )
        return self._finish(data, records, outcomes, stats, plots)

    def _sample(self) -> tuple[SampleData, list[SampleEvent]]:
        a = self.args
        data = generate(a.tenants, a.products, a.days, a.seed)
        records = list(sample_events(data, envelope=a.envelope, days_per_event=a.days_per_event))
        return data, records

    def _announce(self, stack: Stack) -> None:
        pids = ", ".join(f"{name} pid {pid}" for name, pid in stack.pids().items())
        took = ", ".join(f"{name} {s:.1f}s" for name, s in stack.took.items())
        self.say(f"running: {pids} (ready in: {took})")
        self.say(f"broker {stack.bootstrap}; input topic {stack.topics.sales}")
        if stack.use_emulator:
            self.say(f"IO API emulator {stack.emulator_url}; service metrics {stack.metrics_url}")

    # ------------------------------------------------------------------ stream and watch
    async def _stream(
        self, stack: Stack, data: SampleData, records: list[SampleEvent]
    ) -> tuple[Outcomes, bool]:
        expected = Expected(
            priced={(d.tenant_id, d.dataset_id) for d in data.datasets if d.has_prices}
        )
        outcomes = Outcomes(expected)
        with demo_output.JsonlSink(self.out) as sink:

            def seen(record: Received) -> None:
                outcomes.add(record)
                sink.write(record)

            reader = OutputReader(stack.bootstrap or "", stack.topics.kinds(), seen)
            await reader.start()
            stop = asyncio.Event()
            reading = asyncio.create_task(reader.run(stop))
            try:
                sending = asyncio.create_task(self._send(stack, records, expected))
                complete = await self._watch(stack, data, records, outcomes, sending)
            finally:
                stop.set()
                await asyncio.gather(reading, return_exceptions=True)
                await reader.stop()
        return outcomes, complete

    async def _send(self, stack: Stack, records: list[SampleEvent], expected: Expected) -> None:
        def sent(n: int) -> None:
            self.sent += n

        placed = await produce(stack.bootstrap or "", stack.topics.sales, records, sent)
        for record, where in zip(records, placed, strict=True):
            if record.expected_valid:
                expected.offsets[where] = (record.tenant_id, record.dataset_id)
            else:
                expected.invalid[record.tenant_id] += 1

    async def _watch(
        self,
        stack: Stack,
        data: SampleData,
        records: list[SampleEvent],
        outcomes: Outcomes,
        sending: asyncio.Task[None],
    ) -> bool:
        """Show progress until complete; False on timeout. Raises if a child dies."""
        priced = sum(d.has_prices for d in data.datasets)
        progress = demo_view.Progress(
            "streaming", 0.0, len(records), 0, len(data.datasets), priced, outcomes
        )
        deadline = self.began + self.args.timeout
        async with httpx.AsyncClient(timeout=2.0) as http:
            with Live(console=self.console, auto_refresh=False, transient=False) as live:
                last_log = 0.0
                while True:
                    await self._tick(http, stack, progress, sending)
                    if self.console.is_terminal:
                        live.update(demo_view.live_panel(progress), refresh=True)
                    elif progress.elapsed - last_log >= LOG_EVERY_S:
                        last_log = progress.elapsed
                        self.console.print(demo_view.log_line(progress), soft_wrap=True)
                    if sending.done() and self._done(outcomes, progress.elapsed):
                        return True
                    if time.monotonic() > deadline:
                        return False
                    await asyncio.sleep(TICK_S)

    def _done(self, outcomes: Outcomes, now: float) -> bool:
        """Complete, or settled with the service idle for :data:`QUIET_S` (then nothing more
        will come: every input has its outcome and no run is in flight)."""
        if outcomes.complete():
            return True
        if not outcomes.settled() or self.snapshot.runs_in_flight:
            self.quiet_since = None
            return False
        self.quiet_since = self.quiet_since if self.quiet_since is not None else now
        return now - self.quiet_since >= QUIET_S

    async def _tick(
        self,
        http: httpx.AsyncClient,
        stack: Stack,
        progress: demo_view.Progress,
        sending: asyncio.Task[None],
    ) -> None:
        if sending.done():
            sending.result()  # a failed send ends the demo with its error
        dead = stack.dead()
        if dead:
            child = dead[0]
            raise DemoError(f"{child.name} exited unexpectedly:\n{child.log_tail()}")
        # On a failed scrape keep the last numbers; a dead service is caught above.
        with contextlib.suppress(httpx.HTTPError):
            self.snapshot = Snapshot.parse((await http.get(stack.metrics_url)).text)
        progress.metrics, progress.sent = self.snapshot, self.sent
        progress.elapsed = time.monotonic() - self.began
        progress.phase = "streaming" if not sending.done() else "processing"

    async def _emulator_stats(self) -> dict[str, Any]:
        if self.stack is None or not self.stack.emulator_url:
            return {}
        async with httpx.AsyncClient(timeout=5.0) as http:
            try:
                answer = await http.get(f"{self.stack.emulator_url}/_emulator/stats")
                return dict(answer.json()) if answer.status_code == 200 else {}
            except (httpx.HTTPError, ValueError):
                return {}

    # ------------------------------------------------------------------ the end
    async def settle(self) -> None:
        """Let an interrupted start-up finish starting what it started, so shutdown sees it all
        (a broker half-way through its start would otherwise come up after the stop)."""
        if self.starting is not None and not self.starting.done():
            self.starting.cancel()
            await asyncio.gather(self.starting, return_exceptions=True)

    def shutdown(self) -> None:
        if self.stack is None:
            return
        stack, self.stack = self.stack, None
        codes = stack.stop()
        parts = [f"{name} ({demo_view.ended(code)})" for name, code in codes.items()]
        self.say(f"stopped: {', '.join([*parts, 'broker'] if stack.broker else parts)}")

    def _diagnose(self, outcomes: Outcomes, stats: dict[str, Any]) -> None:
        logs = self.out / demo_output.LOGS
        for line in demo_view.timeout_report(
            self.args.timeout, outcomes, self.snapshot, stats, logs
        ):
            self.console.print(line, soft_wrap=True)

    def _plots(self, data: SampleData, outcomes: Outcomes) -> list[Path]:
        from service.devkit.demo_plots import plot_run  # noqa: PLC0415 - slow import

        predicted = {k: f.data for k, f in outcomes.finals.items() if f.status == "predicted"}
        return plot_run(data, predicted, outcomes.classified, self.out / demo_output.PLOTS)

    def _finish(
        self,
        data: SampleData,
        records: list[SampleEvent],
        outcomes: Outcomes,
        stats: dict[str, Any],
        plots: list[Path],
    ) -> int:
        rows = demo_summary.tenant_rows(summarize(data, records), outcomes)
        seconds = time.monotonic() - self.began
        demo_output.write_summary(self.out, demo_summary.as_json(rows, stats, seconds))
        self.console.print(demo_view.summary(rows, stats, self.snapshot))
        problems = [p for row in rows for p in row.problems()]
        for problem in problems:
            self.console.print(f"[bold red]inconsistent:[/] {problem}")
        stale = sorted(outcomes.unclassified())
        if stale:
            self.console.print(f"[yellow]warning:[/] {demo_summary.stale_classifications(stale)}")
        self.say(f"outputs in {self.out}/: {', '.join(demo_output.FILES.values())}, summary.json")
        self.say(f"plots in {self.out / demo_output.PLOTS}/: {', '.join(p.name for p in plots)}")
        self.say(f"demo finished in {seconds:.1f}s")
        return 1 if problems else 0
