"""A tiny Prometheus text-format registry (counters, gauges, one latency histogram)."""

from __future__ import annotations

import bisect
from collections import defaultdict

__all__ = ["Metrics"]

LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
Labels = tuple[tuple[str, str], ...]

_HELP = {
    "gateway_inbound_total": ("counter", "Citizen messages accepted, by channel."),
    "gateway_duplicates_total": ("counter", "Redelivered messages ignored, by channel."),
    "gateway_rejected_total": ("counter", "Inbound requests refused with 4xx, by reason."),
    "gateway_outbound_total": ("counter", "Platform messages by channel and final status."),
    "gateway_rasa_errors_total": ("counter", "Failed calls to Rasa (retried later)."),
    "gateway_rasa_empty_replies_total": ("counter", "Rasa answered with an empty list."),
    "gateway_rate_limited_total": ("counter", "Sends the platform asked us to delay."),
    "gateway_handoffs_total": ("counter", "Handoff requests seen in Rasa's replies."),
    "gateway_pipeline_scan_errors_total": (
        "counter",
        "Failed scans of the message queue (database unreachable); retried every second.",
    ),
    "gateway_rasa_recovered_total": (
        "counter",
        "Answers taken from Rasa's tracker for a message it already had (not fed again).",
    ),
    "gateway_delivery_claims_total": ("counter", "Outbound rows claimed by this process."),
    "gateway_delivery_errors_total": (
        "counter",
        "Failed claims or records of the delivery engine (database unreachable); retried.",
    ),
    "gateway_delivery_lease_lost_total": (
        "counter",
        "Sends recorded after another process had taken the row's lease over.",
    ),
    "gateway_pacing_waits_total": ("counter", "Sends that waited for their pace slot."),
    "gateway_pacing_wait_seconds_total": ("counter", "Seconds sends waited for pace slots."),
    "gateway_pacing_deferred_total": (
        "counter",
        "Claimed rows given back to the queue: their pace slot was too far (bulk, a 429).",
    ),
    "gateway_bulk_requeued_total": (
        "counter",
        "Bulk rows a dead worker left that had not started (or no journal): queued again.",
    ),
    "gateway_bulk_resent_in_doubt_total": (
        "counter",
        "Alerts in flight when their worker died: sent again (an announcement is not).",
    ),
}


def _fmt_labels(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{v}"' for k, v in labels)
    return "{" + inner + "}"


class Metrics:
    """Counters and a histogram of inbound-to-answer latency, rendered for /metrics."""

    def __init__(self) -> None:
        self._counters: dict[str, dict[Labels, float]] = defaultdict(dict)
        self._hist_counts = [0] * (len(LATENCY_BUCKETS_S) + 1)
        self._hist_sum = 0.0

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        """Increase counter ``name`` for these labels."""
        key = tuple(sorted(labels.items()))
        series = self._counters[name]
        series[key] = series.get(key, 0.0) + amount

    def value(self, name: str, **labels: str) -> float:
        """Current value of a counter series (tests and /healthz read this)."""
        return self._counters.get(name, {}).get(tuple(sorted(labels.items())), 0.0)

    def observe_latency(self, seconds: float) -> None:
        """Record the time from accepting a message to queueing its answer."""
        self._hist_counts[bisect.bisect_left(LATENCY_BUCKETS_S, seconds)] += 1
        self._hist_sum += seconds

    def render(self, gauges: dict[str, float]) -> str:
        """Prometheus exposition format 0.0.4."""
        lines: list[str] = []
        for name, (kind, help_text) in _HELP.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
            for labels, val in sorted(self._counters.get(name, {}).items()):
                lines.append(f"{name}{_fmt_labels(labels)} {val:g}")
        for name, val in sorted(gauges.items()):
            lines += [f"# TYPE {name} gauge", f"{name} {val:g}"]
        hname = "gateway_answer_latency_seconds"
        lines += [
            f"# HELP {hname} Seconds from accepting a message to queueing Rasa's answer.",
            f"# TYPE {hname} histogram",
        ]
        cumulative = 0
        for bound, count in zip(LATENCY_BUCKETS_S, self._hist_counts, strict=False):
            cumulative += count
            lines.append(f'{hname}_bucket{{le="{bound:g}"}} {cumulative}')
        cumulative += self._hist_counts[-1]
        lines += [
            f'{hname}_bucket{{le="+Inf"}} {cumulative}',
            f"{hname}_sum {self._hist_sum:g}",
            f"{hname}_count {cumulative}",
        ]
        return "\n".join(lines) + "\n"
