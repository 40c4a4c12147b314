"""Simulator benchmark: how fast `large:N` generates and serialises a simulated day, without a
broker, against the rate ingest stores (the issue asks for >= 20x).

    .venv/bin/python bench/simulate.py [--devices 10000] [--days 1] [--processes 1,2]
                                       [--ingest-rate 16000]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from datetime import UTC, datetime, timedelta

from devices.catalogue import Channel
from devices.messages import Reading
from devices.simulators.runner import native
from devices.simulators.simulate import period, prepare

STEP = timedelta(minutes=15)
REQUIRED = 20.0


def _part(args: tuple[str, float, int, int, datetime]) -> tuple[int, int, int, float]:
    """Messages, values and bytes of devices part, part + parts, ... and the seconds taken."""
    scenario, days, part, parts, now = args
    start, end = period(days, None, STEP, now)
    sim = prepare(scenario, start, end)
    devices = sim.devices[part::parts]
    began = time.perf_counter()
    messages = values = size = 0
    t = start
    while t <= end:  # as the runner: step every device, encode every message
        for d in devices:
            for channel, item in d.step(t):
                _, payload = native(d, channel, item)
                messages += 1
                size += len(payload)
                if channel is Channel.TELEMETRY:
                    items = item if isinstance(item, list) else [item]
                    values += sum(len(r.metrics) for r in items if isinstance(r, Reading))
        t += STEP
    return messages, values, size, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--processes", default="1,2", help="comma-separated process counts")
    parser.add_argument("--ingest-rate", type=float, default=16_000.0,
                        help="messages/s ingest stores (bench/ingest.py)")
    args = parser.parse_args()
    now = datetime(2026, 1, 15, tzinfo=UTC)
    scenario = f"large:{args.devices}"
    print(f"{scenario}, {args.days:g} simulated day(s), step {STEP}, ingest "
          f"{args.ingest_rate:,.0f} msg/s")
    print(f"{'processes':>9} {'messages':>10} {'values':>11} {'MB':>7} {'wall s':>7} "
          f"{'msg/s':>9} {'values/s':>10} {'x ingest':>9}")
    for n in (int(x) for x in args.processes.split(",")):
        began = time.perf_counter()
        jobs = [(scenario, args.days, i, n, now) for i in range(n)]
        if n == 1:
            results = [_part(jobs[0])]
        else:
            with mp.get_context("spawn").Pool(n) as pool:
                results = pool.map(_part, jobs)
        # Generation time: the slowest worker's stepping (building the territory excluded).
        wall = max(r[3] for r in results)
        total = time.perf_counter() - began
        messages, values, size = (sum(r[i] for r in results) for i in range(3))
        rate = messages / wall
        print(f"{n:>9} {messages:>10,} {values:>11,} {size / 1e6:>7.1f} {wall:>7.1f} "
              f"{rate:>9,.0f} {values / wall:>10,.0f} {rate / args.ingest_rate:>8.1f}x"
              f"   (with territory build: {total:.1f} s)")
    print(f"required: >= {REQUIRED:g}x ingest")


if __name__ == "__main__":
    main()
