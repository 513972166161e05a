"""bench --profile: JFR execution samples summed by thread and by code."""

from __future__ import annotations

from bench.profile import parse_samples, summarize

# As `jfr print --events jdk.ExecutionSample` prints them (stacks innermost first).
PRINTED = """
jdk.ExecutionSample {
  startTime = 22:24:07.097 (2026-12-01)
  sampledThread = "zb-actors-1" (javaThreadId = 39)
  state = "STATE_RUNNABLE"
  stackTrace = [
    java.util.TreeMap.successor(TreeMap$Entry) line: 358
    io.camunda.zeebe.process.test.engine.db.InMemoryDbColumnFamily.get(DbKey) line: 80
    io.camunda.zeebe.engine.state.instance.DbElementInstanceState.getInstance(long) line: 120
  ]
}

jdk.ExecutionSample {
  startTime = 22:24:07.107 (2026-12-01)
  sampledThread = "zb-actors-0" (javaThreadId = 38)
  state = "STATE_RUNNABLE"
  stackTrace = [
    io.camunda.zeebe.msgpack.property.IntegerProperty.<init>(StringValue, int) line: 27
    io.camunda.zeebe.protocol.impl.record.value.job.JobBatchRecord.<init>() line: 45
  ]
}

jdk.ExecutionSample {
  startTime = 22:24:07.117 (2026-12-01)
  sampledThread = "grpc-default-executor-3" (javaThreadId = 41)
  state = "STATE_RUNNABLE"
  stackTrace = [
    java.lang.Thread.sleep(long) line: 509
    HireflowEmbeddedEngine$LongPolling$2.onHalfClose() line: 504
  ]
}

jdk.ExecutionSample {
  startTime = 22:24:07.127 (2026-12-01)
  sampledThread = "grpc-nio-worker-ELG-1-2" (javaThreadId = 30)
  state = "STATE_RUNNABLE"
  stackTrace = [
    io.netty.channel.nio.SelectedSelectionKeySetSelector.wakeup() line: 71
    io.netty.channel.nio.NioEventLoop.wakeup(boolean) line: 590
  ]
}
"""


def test_samples_are_read_with_their_thread_and_frames_innermost_first():
    samples = parse_samples(PRINTED)

    assert [s.thread for s in samples] == [
        "zb-actors-1",
        "zb-actors-0",
        "grpc-default-executor-3",
        "grpc-nio-worker-ELG-1-2",
    ]
    assert samples[0].frames[0] == "java.util.TreeMap.successor"


def test_shares_go_to_thread_groups_and_to_the_innermost_camunda_or_launcher_code():
    summary = summarize(parse_samples(PRINTED))

    assert summary.samples == 4
    assert summary.by_thread[0] == ("zb-actors-N", 50.0)
    assert dict(summary.by_code) == {
        # The JDK's TreeMap, called by the in-memory state: counted as the state's time.
        "io.camunda.zeebe.process.test.engine.db (in-memory state)": 25.0,
        "io.camunda.zeebe.msgpack": 25.0,
        "HireflowEmbeddedEngine (launcher)": 25.0,
        "io.netty": 25.0,
    }
    assert "zb-actors-N 50%" in summary.line()


def test_a_sample_in_rocksdb_counts_as_zeebes_state_store():
    printed = """
jdk.ExecutionSample {
  startTime = 20:58:01.117 (2026-12-05)
  sampledThread = "zb-actors-0" (javaThreadId = 38)
  state = "STATE_RUNNABLE"
  stackTrace = [
    org.rocksdb.Transaction.get(long, byte[], int, long) line: 0
    io.camunda.zeebe.db.impl.rocksdb.transaction.ZeebeTransaction.get(long, long, byte[], int) line: 88
    io.camunda.zeebe.engine.state.instance.DbElementInstanceState.getInstance(long) line: 120
  ]
}
"""
    summary = summarize(parse_samples(printed))

    assert dict(summary.by_code) == {"io.camunda.zeebe.db (state store, RocksDB)": 100.0}
