"""Time and cost estimates: throughput learnt from earlier runs, Hail Batch core rounding, price table."""

from __future__ import annotations

import pytest

from toolkit.plan.estimate import (
    DEFAULT_PRICES,
    PriceTable,
    Throughput,
    billed_cores,
    estimate_job,
    fit_throughput,
    format_duration,
)

GIB = 1024**3


@pytest.mark.parametrize(
    ("cpu", "memory_gib", "cores"),
    [(1, 2, 1), (0.1, 0.5, 0.25), (1, 7, 2), (5, 1, 8), (2, 3.75 * 2, 2), (3, 1, 4)],
)
def test_billed_cores_follow_the_batch_service_rules(cpu, memory_gib, cores):
    assert billed_cores(cpu, int(memory_gib * GIB)) == cores


def test_fit_recovers_a_linear_model():
    # 5 s of start-up plus 1 MB/s
    samples = [(size, 5 + size / 1_000_000) for size in (1_000_000, 4_000_000, 10_000_000, 20_000_000)]
    model = fit_throughput(samples)
    assert model.runs == 4
    assert model.bytes_per_second == pytest.approx(1_000_000, rel=1e-6)
    assert model.fixed_seconds == pytest.approx(5, rel=1e-6)
    assert model.seconds_for(50_000_000) == pytest.approx(55)


def test_fit_with_one_size_uses_the_median_rate():
    model = fit_throughput([(1000, 2.0), (1000, 4.0), (1000, 1.0)])
    assert model.bytes_per_second == 500 and model.fixed_seconds == 0 and model.runs == 3


def test_fit_without_usable_samples_is_none():
    assert fit_throughput([(0, 3.0), (100, 0)]) is None


def test_unknown_time_gives_no_cost():
    estimate = estimate_job(cpu=1, memory_bytes=GIB, storage_bytes=GIB, input_bytes=10, throughput=None,
                            prices=PriceTable.from_config({}))
    assert estimate.seconds is None and estimate.spot_cost is None


def test_cost_is_cores_times_hours_times_rate_plus_storage():
    prices = PriceTable.from_config({"toolkit": {"prices": {"spot_core_hour": 0.02, "on_demand_core_hour": 0.05,
                                                             "storage_gib_hour": 0.001}}})
    one_hour = Throughput(bytes_per_second=1000, fixed_seconds=0, runs=2, source="earlier runs")
    estimate = estimate_job(cpu=1, memory_bytes=7 * GIB, storage_bytes=10 * GIB, input_bytes=3_600_000,
                            throughput=one_hour, prices=prices)
    assert estimate.seconds == 3600 and estimate.cores == 2
    assert estimate.spot_cost == pytest.approx(2 * 0.02 + 10 * 0.001)
    assert estimate.on_demand_cost == pytest.approx(2 * 0.05 + 10 * 0.001)


def test_default_prices_say_where_they_come_from():
    table = PriceTable.from_config(None)
    assert table.spot_core_hour == DEFAULT_PRICES["spot_core_hour"]
    assert "hail" in table.source and table.read_on


@pytest.mark.parametrize(("seconds", "text"), [(None, "unknown"), (42, "42 s"), (600, "10 min"), (7800, "2 h 10 min")])
def test_durations_read_like_a_person_would_say_them(seconds, text):
    assert format_duration(seconds) == text
