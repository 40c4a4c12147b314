"""Simulator benchmark: how fast `large:N` generates and serialises a simulated day, without a
broker, against the rate ingest stores (the issue asks for >= 20x).

    .venv/bin/python bench/simulate.py [--devices 10000] [--days 1] [--processes 1,2]
                                       [--ingest-rates 18000,26000] [--objects]
                                       [--mqtt-url mqtt://127.0.0.1:PORT]

The vectorised engine (devices/simulators/vector/, what `phare simulate` uses for large
territories) is measured by default; `--objects` also measures the object simulator (one
Python object per device, as for the default scenario and commands), for comparison.
Each process builds the territory (reported apart), then generates its share of tenants:
messages are ready to publish, (topic, payload bytes).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
from datetime import UTC, datetime, timedelta

from devices.catalogue import Channel
from devices.messages import Reading
from devices.simulators.runner import native, publish
from devices.simulators.simulate import period, prepare
from devices.simulators.vector.engine import batches

STEP = timedelta(minutes=15)
REQUIRED = 20.0

# messages, values, bytes, generation s (wall), build s, generation s (this process's CPU)
Result = tuple[int, int, int, float, float, float]


def _vector(args: tuple[str, float, int, int, datetime]) -> Result:
    """Messages, values and bytes of tenants part, part + parts, ... and the seconds taken."""
    scenario, days, part, parts, now = args
    built = time.perf_counter()
    start, end = period(days, None, STEP, now)
    sim = prepare(scenario, start, end)
    began, cpu = time.perf_counter(), time.process_time()
    messages = values = size = 0
    for batch in batches(sim, start, end, STEP, part=(part, parts)):
        messages += len(batch.payloads)
        values += batch.values
        size += sum(map(len, batch.payloads))
    return (messages, values, size, time.perf_counter() - began, began - built,
            time.process_time() - cpu)


def _objects(args: tuple[str, float, int, int, datetime]) -> Result:
    """The same with the object simulator: step every device, encode every message."""
    scenario, days, part, parts, now = args
    built = time.perf_counter()
    start, end = period(days, None, STEP, now)
    sim = prepare(scenario, start, end)
    devices = sim.devices[part::parts]
    began, cpu = time.perf_counter(), time.process_time()
    messages = values = size = 0
    t = start
    while t <= end:
        for d in devices:
            for channel, item in d.step(t):
                _, payload = native(d, channel, item)
                messages += 1
                size += len(payload)
                if channel is Channel.TELEMETRY:
                    items = item if isinstance(item, list) else [item]
                    values += sum(len(r.metrics) for r in items if isinstance(r, Reading))
        t += STEP
    return (messages, values, size, time.perf_counter() - began, began - built,
            time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--processes", default="1,2", help="comma-separated process counts")
    parser.add_argument("--ingest-rates", default="18000,26000",
                        help="messages/s ingest stores with 1, 2 … workers (bench/ingest.py)")
    parser.add_argument("--objects", action="store_true", help="also time the object simulator")
    parser.add_argument("--mqtt-url", help="also publish the vectorised day to this broker (a "
                        "private one: mqtt://127.0.0.1:PORT), as `phare simulate` does")
    args = parser.parse_args()
    now = datetime(2026, 1, 15, tzinfo=UTC)
    scenario = f"large:{args.devices}"
    ingest = [float(x) for x in args.ingest_rates.split(",")]
    print(f"{scenario}, {args.days:g} simulated day(s), step {STEP}; ingest "
          + ", ".join(f"{r:,.0f} msg/s with {i + 1} worker{'s' if i else ''}"
                      for i, r in enumerate(ingest))
          + f"; load average {os.getloadavg()[0]:.2f}")
    engines = [("vectorised", _vector)] + ([("objects", _objects)] if args.objects else [])
    print(f"{'engine':>10} {'procs':>5} {'messages':>10} {'values':>11} {'MB':>6} {'build s':>7} "
          f"{'gen s':>6} {'msg/s':>10} {'values/s':>11}  " + "  ".join(
              f"x{i + 1}w" for i in range(len(ingest))) + f"  {'cpu s':>6} {'msg/cpu-s':>10}")
    for name, job in engines:
        for n in (int(x) for x in args.processes.split(",")):
            jobs = [(scenario, args.days, i, n, now) for i in range(n)]
            if n == 1:
                results = [job(jobs[0])]
            else:
                with mp.get_context("spawn").Pool(n) as pool:
                    results = pool.map(job, jobs)
            # Generation: the slowest worker's (its territory build is reported apart).
            wall = max(r[3] for r in results)
            build = max(r[4] for r in results)
            messages, values, size = (sum(r[i] for r in results) for i in range(3))
            rate = messages / wall
            ratios = "  ".join(f"{rate / r:>5.1f}x" for r in ingest)
            # CPU: what one free core does (the machine is shared: wall time waits for others).
            cpu = max(r[5] for r in results)
            print(f"{name:>10} {n:>5} {messages:>10,} {values:>11,} {size / 1e6:>6.1f} {build:>7.1f} "
                  f"{wall:>6.2f} {rate:>10,.0f} {values / wall:>11,.0f}  {ratios}  {cpu:>6.2f} "
                  f"{messages / n / cpu * n:>10,.0f}")
    if args.mqtt_url:
        _broker(scenario, args.days, args.mqtt_url, ingest)
    print(f"required: >= {REQUIRED:g}x ingest; load average now {os.getloadavg()[0]:.2f}")


def _broker(scenario: str, days: float, url: str, ingest: list[float]) -> None:
    """Generation and publication together, through `runner.publish` (QoS 1, acknowledged)."""
    start, end = period(days, None, STEP)
    sim = prepare(scenario, start, end)
    began, cpu = time.perf_counter(), time.process_time()
    stats = publish(batches(sim, start, end, STEP), mqtt_url=url, start=start, end=end,
                    step=STEP, speed=None)
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    n = sum(stats.messages.values())
    print(f"published to {url}: {n:,} messages in {wall:.1f} s, {n / wall:,.0f} msg/s ("
          + ", ".join(f"{n / wall / r:.1f}x" for r in ingest) + f"), {cpu:.1f} s of CPU here")


if __name__ == "__main__":
    main()
