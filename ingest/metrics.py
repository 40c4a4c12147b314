"""Prometheus metrics of an ingest consumer, read from its counters at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from ingest.consumer import Stats


class StatsCollector(Collector):
    def __init__(self, stats: Stats, queue_depth: Callable[[], int],
                 spool_bytes: Callable[[], int]) -> None:
        self.stats = stats
        self.queue_depth = queue_depth
        self.spool_bytes = spool_bytes

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | SummaryMetricFamily]:
        s = self.stats
        yield CounterMetricFamily("phare_ingest_messages_received", "MQTT messages received",
                                  value=s.received)
        yield CounterMetricFamily("phare_ingest_values_stored", "Values stored (new rows)",
                                  value=s.values_stored)
        yield CounterMetricFamily("phare_ingest_values_duplicate",
                                  "Values received again and stored once", value=s.values_duplicate)
        yield CounterMetricFamily("phare_ingest_events_stored", "Device events stored",
                                  value=s.events_stored)
        yield CounterMetricFamily("phare_ingest_values_ignored",
                                  "Decoded LoRaWAN fields that are not numbers", value=s.values_ignored)
        rejected = CounterMetricFamily("phare_ingest_rejected", "Rejections, by reason",
                                       labels=["reason"])
        for reason, n in sorted(s.rejected.items()):
            rejected.add_metric([reason], n)
        yield rejected
        yield CounterMetricFamily("phare_ingest_db_write_errors",
                                  "Batches the database could not take", value=s.db_errors)
        yield SummaryMetricFamily("phare_ingest_batch_seconds", "Time to write one batch",
                                  count_value=s.batches, sum_value=s.batch_seconds)
        yield GaugeMetricFamily("phare_ingest_queue_depth", "Messages waiting in memory",
                                value=self.queue_depth())
        yield GaugeMetricFamily("phare_ingest_spool_bytes",
                                "Bytes waiting on disk for the database", value=self.spool_bytes())


def serve(port: int, collector: StatsCollector) -> None:
    """Serves /metrics on 127.0.0.1:port in a background thread."""
    registry = CollectorRegistry()
    registry.register(collector)
    start_http_server(port, addr="127.0.0.1", registry=registry)
