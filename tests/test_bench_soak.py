"""make soak's report: the growth per 1,000 instances, and the table an operator reads."""

from __future__ import annotations

from bench.soak import (
    Batch,
    Usage,
    cpu_per_batch,
    cpu_table,
    growth_per_thousand,
    heap_growth_per_thousand,
    heap_lasts_for,
    table,
)


def batch(number: int, rss_mb: float, *, completed: int = 250, stuck: int = 0) -> Batch:
    return Batch(
        number,
        instances=250,
        completed=completed,
        incident=0,
        stuck=stuck,
        double_effects=0,
        seconds=30.0,
        usage={"webapp": Usage(rss_mb, 49, 18), "worker pool": Usage(530.0, 102, 38)},
    )


def test_growth_is_the_slope_after_the_warm_up_batch():
    # The first batch's jump (warming caches) is left out: 12 MB per 250 instances after it.
    batches = [batch(0, 260.0), batch(1, 272.0), batch(2, 284.0), batch(3, 296.0)]
    assert growth_per_thousand(batches, "webapp") == 48.0
    assert growth_per_thousand(batches, "worker pool") == 0.0


def test_growth_needs_two_batches_after_the_warm_up():
    assert growth_per_thousand([batch(0, 260.0), batch(1, 300.0)], "webapp") is None
    assert growth_per_thousand([batch(0, 1.0), batch(1, 2.0), batch(2, 3.0)], "no such process") is None


def test_the_table_has_a_row_per_batch_and_the_growth_last():
    start = {"webapp": Usage(230.0, 22, 7), "worker pool": Usage(297.0, 42, 18)}
    lines = table(
        [batch(0, 260.0), batch(1, 272.0), batch(2, 284.0, completed=249, stuck=1)], start
    ).splitlines()
    assert lines[0].startswith("| batch | instances so far |")
    assert "| start | 0 |" in lines[2]
    assert lines[3].startswith("| 0 | 250 | 250 | 0 |")
    assert lines[5].startswith("| 2 | 750 | 249 | 1 |")  # one stuck: not clean
    assert lines[-1].startswith("| MB per 1,000 instances |") and "+48.0" in lines[-1]
    assert "272.0 MB / 49 / 18" in lines[4]


def test_a_batch_with_an_unfinished_instance_is_not_clean():
    assert batch(0, 1.0).clean
    assert not batch(0, 1.0, completed=249, stuck=1).clean


def test_the_engines_heap_after_collections_gets_a_column_its_growth_and_its_reach():
    batches = [batch(0, 260.0), batch(1, 272.0), batch(2, 284.0), batch(3, 296.0)]
    for number, heap_mb in enumerate([100.0, 125.0, 150.0, 175.0]):
        batches[number].engine_heap_mb = heap_mb  # 25 MB per 250 instances: 100 per 1,000

    lines = table(batches, {"webapp": Usage(230.0, 22, 7)}, start_heap_mb=45.0).splitlines()

    assert lines[0].endswith("| webapp | engine heap after GC |")
    assert lines[2].endswith("| 45.0 MB |") and lines[6].endswith("| 175.0 MB |")
    assert lines[-1].endswith("| +48.0 | +100.0 |")
    assert heap_growth_per_thousand(batches) == 100.0
    # 1,000 instances so far at 175 MB; 849 MB more at 100 per 1,000.
    assert heap_lasts_for(batches, 1024) == 9500
    assert heap_lasts_for(batches[:2], 1024) is None  # no growth measured yet


def test_without_the_engines_heap_the_table_has_no_column_for_it():
    lines = table([batch(0, 260.0)], {"webapp": Usage(230.0, 22, 7)}).splitlines()
    assert "heap" not in lines[0]


def test_cpu_per_batch_is_the_difference_of_the_samples_and_unknown_after_a_restart():
    start = {"webapp": Usage(230.0, 22, 7, cpu_s=5.0)}
    batches = [batch(number, 260.0) for number in range(4)]
    for number, cpu_s in enumerate([15.0, 27.0, 3.0, 20.0]):  # restarted during batch 2
        batches[number].usage["webapp"] = Usage(260.0, 49, 18, cpu_s=cpu_s)

    assert cpu_per_batch(batches, start, "webapp") == [10.0, 12.0, None, 17.0]
    assert cpu_per_batch(batches, start, "engine") == [None] * 4  # never sampled


def test_the_cpu_table_shows_which_process_does_more_work_per_batch_as_instances_grow():
    start = {"webapp": Usage(230.0, 22, 7, cpu_s=0.0), "worker pool": Usage(297.0, 42, 18, cpu_s=0.0)}
    batches = [batch(number, 260.0) for number in range(4)]
    webapp_cpu = pool_cpu = 0.0
    for number, seconds in enumerate([30.0, 20.0, 22.0, 24.0]):
        batches[number].seconds = seconds
        webapp_cpu += 10.0 + 3.0 * number  # 3 s more each batch of 250: +12 per 1,000
        pool_cpu += 8.0  # the same work each batch
        batches[number].usage = {
            "webapp": Usage(260.0, 49, 18, cpu_s=webapp_cpu),
            "worker pool": Usage(530.0, 102, 38, cpu_s=pool_cpu),
        }

    lines = cpu_table(batches, start).splitlines()

    assert lines[0] == "| batch | instances so far | seconds | webapp | worker pool |"
    assert lines[2] == "| 0 | 250 | 30.0 | 10.0 | 8.0 |"
    assert lines[5] == "| 3 | 1000 | 24.0 | 19.0 | 8.0 |"
    assert lines[-1] == "| s per batch, per 1,000 instances |  | +8.0 | +12.0 | +0.0 |"
