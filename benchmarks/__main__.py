"""``python -m benchmarks [--quick] [--output PATH] [--only NAMES]``: run and write the results."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

import attrs

from ._fleet import FleetSpec, redis_unavailable, run_fleet
from ._hostile import run_hostile
from ._makespan import BACKPRESSURE_CONTENDERS, CONTENDERS, MakespanSpec, run_makespan
from ._memory import run_memory
from ._overhead import OverheadSpec, run_overhead
from ._profile import profile_cpu, profile_memory
from ._realscale import FULL_SCALES, QUICK_SCALES, ScaleSpec, run_realscale
from ._report import Report
from ._serde import run_serde
from ._server import CLIENT_CPU, PIN_ENV, pin_to_cpu

SECTIONS: Final = (
    "makespan",
    "overhead",
    "memory",
    "models",
    "backpressure",
    "profile",
    "fleet",
    "realscale",
    "hostile",
)
_HERE: Final = Path(__file__).parent
DEFAULT_OUTPUT: Final = _HERE / "RESULTS.md"
QUICK_OUTPUT: Final = _HERE / "RESULTS-quick.md"
#: Clone latency of benchmarks 1 and 5 (seconds, uniform).
LATENCY: Final = (0.020, 0.080)


@attrs.frozen(kw_only=True)
class Sizes:
    """How big each benchmark is in one mode."""

    makespan: MakespanSpec
    #: The global-semaphore peer runs N clones one pair at a time (about K times the
    #: bound, so it runs once); at most this many jobs keep it within the time budget.
    global_semaphore_jobs: int
    backpressure: MakespanSpec
    overhead_requests: int
    #: httpx's pool costs milliseconds per request: fewer of them suffice.
    httpx_requests: int
    overhead_accounts: tuple[int, ...]
    overhead_repeats: int
    memory_jobs: int
    memory_accounts: int
    profile_jobs: int
    fleet: FleetSpec
    realscale: tuple[ScaleSpec, ...]


FULL: Final = Sizes(
    makespan=MakespanSpec(jobs=2000, accounts=20, latency=LATENCY, repeats=5),
    global_semaphore_jobs=2000,
    backpressure=MakespanSpec(jobs=2000, accounts=20, latency=LATENCY, server_slots=1),
    overhead_requests=2000,
    httpx_requests=400,
    overhead_accounts=(1, 20),
    overhead_repeats=7,
    memory_jobs=100_000,
    memory_accounts=20,
    profile_jobs=2000,
    fleet=FleetSpec(),
    realscale=FULL_SCALES,
)
QUICK: Final = Sizes(
    makespan=MakespanSpec(jobs=100, accounts=5, latency=LATENCY),
    global_semaphore_jobs=100,
    backpressure=MakespanSpec(jobs=100, accounts=5, latency=LATENCY, server_slots=1),
    overhead_requests=300,
    httpx_requests=100,
    overhead_accounts=(5,),
    overhead_repeats=1,
    memory_jobs=10_000,
    memory_accounts=5,
    profile_jobs=0,
    fleet=FleetSpec(processes=2, accounts=2, jobs_per_process=40),
    realscale=QUICK_SCALES,
)


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="minimax_async against the alternatives, on the fake server on 127.0.0.1.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, under a minute (CI smoke test)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"results file (default {DEFAULT_OUTPUT.relative_to(_HERE.parent)}, or "
        f"{QUICK_OUTPUT.relative_to(_HERE.parent)} with --quick)",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="pin the client and the fake server to cores 0 and 1 (best on an idle machine)",
    )
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run (default all: {','.join(SECTIONS)})",
    )
    parser.add_argument(
        "--latency",
        default=None,
        help="LOW,HIGH seconds of the clone latency of benchmarks 1 and 5 "
        f"(default {LATENCY[0]:g},{LATENCY[1]:g})",
    )
    parser.add_argument(
        "--jobs", type=int, default=None, help="N of benchmarks 1 and 5 (default 2000)"
    )
    args = parser.parse_args(argv)
    if args.latency is not None:
        try:
            low, high = (float(part) for part in args.latency.split(","))
        except ValueError:
            parser.error("--latency takes LOW,HIGH seconds, e.g. 0.2,0.8")
        if not 0 <= low <= high:
            parser.error("--latency needs 0 <= LOW <= HIGH")
        args.latency = (low, high)
    if args.jobs is not None and args.jobs < 1:
        parser.error("--jobs must be at least 1")
    unknown = set(args.only.split(",")) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    return args


def _say(line: str) -> None:
    print(line, flush=True)


def run(argv: Sequence[str]) -> Report:
    """Run the benchmarks ``argv`` asks for; write and return the report."""
    args = _parse(argv)
    sizes = QUICK if args.quick else FULL
    if args.latency is not None or args.jobs is not None:

        def adjusted(spec: MakespanSpec) -> MakespanSpec:
            return attrs.evolve(
                spec,
                latency=args.latency or spec.latency,
                jobs=args.jobs or spec.jobs,
            )

        sizes = attrs.evolve(
            sizes,
            makespan=adjusted(sizes.makespan),
            backpressure=adjusted(sizes.backpressure),
            global_semaphore_jobs=min(
                sizes.global_semaphore_jobs, args.jobs or sizes.makespan.jobs
            ),
        )
    output: Path = args.output or (QUICK_OUTPUT if args.quick else DEFAULT_OUTPUT)
    output.parent.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(","))
    command = shlex.join(["python", "-m", "benchmarks", *argv])
    if args.pin:
        os.environ[PIN_ENV] = "1"
    report = Report(command=command, quick=args.quick, pinned=pin_to_cpu(CLIENT_CPU))

    def section(name: str, title: str, body: Callable[[], None]) -> None:
        if name not in only:
            return
        _say(f"== {title}")
        started = time.perf_counter()
        body()
        report.sections_seconds[name] = time.perf_counter() - started
        write()  # partial results survive

    def write() -> None:
        output.write_text(report.render(), encoding="utf-8")
        output.with_suffix(".json").write_text(report.to_json(), encoding="utf-8")

    def makespan() -> None:
        report.makespan_spec = sizes.makespan
        report.makespan = run_makespan(
            sizes.makespan,
            CONTENDERS,
            _say,
            job_limits={"global_semaphore": sizes.global_semaphore_jobs},
            repeat_limits={"global_semaphore": 1},
        )

    def overhead() -> None:
        for accounts in sizes.overhead_accounts:
            spec = OverheadSpec(
                requests=sizes.overhead_requests,
                accounts=accounts,
                repeats=sizes.overhead_repeats,
            )
            report.overhead += run_overhead(spec, _say, httpx_requests=sizes.httpx_requests)

    def memory() -> None:
        report.memory = run_memory(sizes.memory_jobs, sizes.memory_accounts, _say)

    def models() -> None:
        report.serde = run_serde(quick=args.quick, progress=_say)

    def backpressure() -> None:
        report.backpressure_spec = sizes.backpressure
        report.backpressure = run_makespan(sizes.backpressure, BACKPRESSURE_CONTENDERS, _say)

    def profile() -> None:
        if sizes.profile_jobs:
            report.cpu_profile = cpu = profile_cpu(sizes.profile_jobs, sizes.makespan.accounts)
            for w in cpu.workloads.values():
                _say(f"  CPU, {w.label}: {w.total:.0f} {w.unit} under cProfile")
            report.memory_profile = memory = profile_memory(
                5 * sizes.profile_jobs, sizes.memory_accounts
            )
            for w in memory.workloads.values():
                _say(f"  memory, {w.label}: {w.total:,.0f} {w.unit} traced")

    section("makespan", "1. makespan", makespan)
    section("overhead", "2. client CPU overhead", overhead)
    section("memory", "3. memory per queued job", memory)
    section("models", "4. models", models)
    section("backpressure", "5. back-pressure", backpressure)
    section("profile", "profiles", profile)

    def fleet() -> None:
        report.fleet_spec = sizes.fleet
        report.fleet_skipped = redis_unavailable()
        if report.fleet_skipped is None:
            report.fleet = run_fleet(sizes.fleet, _say)
        else:
            _say(f"  not run: {report.fleet_skipped}")

    def realscale() -> None:
        report.realscale_specs = sizes.realscale
        report.realscale = run_realscale(sizes.realscale, _say)

    section("fleet", "6. fleet (several processes)", fleet)
    section("realscale", "7. real scale in virtual time", realscale)

    def hostile() -> None:
        report.hostile = run_hostile(quick=args.quick, progress=_say)

    section("hostile", "8. hostile bodies", hostile)
    write()
    _say(f"wrote {output}")
    return report


def main() -> None:
    """The console entry point."""
    run(sys.argv[1:])


if __name__ == "__main__":
    main()
