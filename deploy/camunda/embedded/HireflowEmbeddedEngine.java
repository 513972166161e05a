/*
 * The real Zeebe engine, embedded, for process tests while the pinned Camunda
 * distribution cannot be fetched (see deploy/camunda/embedded/README.md).
 *
 * It runs Camunda's zeebe-process-test engine: the Zeebe workflow engine itself
 * (zeebe-workflow-engine, the same stream processor a broker runs) over an in-memory
 * log, or, given a state file as a third argument, a log kept in that file (see
 * DurableLog), with its gRPC gateway on the given port. Job workers connect to that
 * gateway exactly as they connect to a cluster. Its state is in Zeebe's RocksDB state
 * store, as a broker's is (see useRocksDbState).
 *
 * There is no Operate, Tasklist or REST v2 here. This launcher adds a small local
 * HTTP control port for tests:
 *   GET  /health                       200 once the engine runs; its heap after
 *                                      collections, and how many readers its log holds
 *   GET  /topology                     the gateway's topology, in REST v2's shape
 *   GET  /records?from=N[&limit=L]     the engine's records after log position N (0: all),
 *                                      at most L (default and most 2000), as the engine's
 *                                      own JSON ({"next": M, "more": bool, "records": [...]});
 *        [&recordType=EVENT]           only records of these record types and value types
 *        [&valueType=JOB,VARIABLE]     (comma-separated; M is still the last position read)
 *   GET  /clock                        {"epochMilli": the engine clock's time}
 *   POST /clock/add                    {"offsetMilli": n}: move the engine clock
 *   POST /deployments                  {"resources": [{"name", "content" (base64)}]}
 *   POST /process-instances            {"processDefinitionId", "variables"}
 *   POST /process-instances/K/cancellation
 *   POST /messages/publication         {"name", "correlationKey", "messageId",
 *                                       "timeToLive" (ms), "variables"}
 *   POST /user-tasks/K/completion      {"variables"}: writes the USER_TASK COMPLETE
 *                                      command, as the REST gateway would
 *   PATCH /jobs/K                      {"changeset": {"retries": n}}
 *   POST /incidents/K/resolution
 *   POST /jobs/activation              {"type", "maxJobsToActivate", "timeout", "worker"}
 *   POST /jobs/K/failure               {"retries", "errorMessage", "retryBackOff" (ms)}
 *   GET  /stream-processor             its health report (a stuck or failed processor says
 *                                      so, with the record it is stuck on) and positions
 *   POST /stream-processor/pause|resume  stop or restart processing commands (a test fault)
 *
 * Job polling: a cluster's gateway holds an empty ActivateJobs call open (long polling);
 * the embedded gateway answers at once, and every call writes two records to the log, so
 * pyzeebe's pollers, which rely on long polling, would fill the log (about 170 records a
 * second for an idle worker pool). The public gRPC port therefore serves the same gateway
 * with long polling added (see LongPolling): a poll for a job type whose last poll found
 * nothing waits until a job event of that type is written, or answers empty after the
 * request's timeout without touching the log. Jobs still reach workers at once through
 * job streaming; a stream that names no tenant gets the default tenant, as a cluster's
 * gateway gives it (see DEFAULT_TENANT).
 *
 * Engine rejections answer as REST v2 does: 404 not found, 409 already exists (a
 * duplicate message id) or failed precondition, 503 when the engine is overloaded, 504
 * when it did not answer in time.
 *
 * With LOG_FILE, the engine's log is also kept in that file (see DurableLog): a restarted
 * engine, even one killed with SIGKILL, reads it back and rebuilds its state by replaying
 * it, as a broker without a snapshot does. Without it, the log lives in memory only.
 *
 * Usage: java -cp 'lib/*' HireflowEmbeddedEngine.java GRPC_PORT CONTROL_PORT [LOG_FILE]
 */

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.util.RawValue;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.camunda.zeebe.client.ZeebeClient;
import io.camunda.zeebe.client.api.response.BrokerInfo;
import io.camunda.zeebe.client.api.response.PartitionInfo;
import io.camunda.zeebe.client.api.response.Topology;
import io.camunda.zeebe.client.api.command.DeployResourceCommandStep1;
import io.camunda.zeebe.client.api.command.ModifyProcessInstanceCommandStep1;
import io.camunda.zeebe.client.api.response.ActivatedJob;
import io.camunda.zeebe.db.AccessMetricsConfiguration;
import io.camunda.zeebe.db.ConsistencyChecksSettings;
import io.camunda.zeebe.db.ZeebeDb;
import io.camunda.zeebe.db.impl.rocksdb.RocksDbConfiguration;
import io.camunda.zeebe.db.impl.rocksdb.ZeebeRocksDbFactory;
import io.camunda.zeebe.gateway.protocol.GatewayOuterClass.ActivateJobsRequest;
import io.camunda.zeebe.gateway.protocol.GatewayOuterClass.ActivateJobsResponse;
import io.camunda.zeebe.gateway.protocol.GatewayOuterClass.StreamActivatedJobsRequest;
import io.camunda.zeebe.logstreams.impl.log.LoggedEventImpl;
import io.camunda.zeebe.logstreams.log.LogStream;
import io.camunda.zeebe.logstreams.log.LogStreamReader;
import io.camunda.zeebe.logstreams.log.LoggedEvent;
import io.camunda.zeebe.process.test.api.ZeebeTestEngine;
import io.camunda.zeebe.process.test.engine.EngineFactory;
import io.camunda.zeebe.protocol.impl.encoding.MsgPackConverter;
import io.camunda.zeebe.protocol.impl.record.CopiedRecord;
import io.camunda.zeebe.protocol.impl.record.RecordMetadata;
import io.camunda.zeebe.protocol.impl.record.UnifiedRecordValue;
import io.camunda.zeebe.protocol.impl.record.value.incident.IncidentRecord;
import io.camunda.zeebe.protocol.impl.record.value.job.JobBatchRecord;
import io.camunda.zeebe.protocol.impl.record.value.job.JobRecord;
import io.camunda.zeebe.protocol.impl.record.value.usertask.UserTaskRecord;
import io.camunda.zeebe.protocol.ZbColumnFamilies;
import io.camunda.zeebe.protocol.record.RecordType;
import io.camunda.zeebe.protocol.record.RejectionType;
import io.camunda.zeebe.protocol.record.ValueType;
import io.camunda.zeebe.protocol.record.value.JobRecordValue;
import io.camunda.zeebe.protocol.record.intent.IncidentIntent;
import io.camunda.zeebe.protocol.record.intent.Intent;
import io.camunda.zeebe.protocol.record.intent.JobBatchIntent;
import io.camunda.zeebe.protocol.record.intent.JobIntent;
import io.camunda.zeebe.protocol.record.intent.UserTaskIntent;
import io.camunda.zeebe.scheduler.clock.ActorClock;
import io.camunda.zeebe.scheduler.future.ActorFuture;
import io.camunda.zeebe.stream.api.CommandResponseWriter;
import io.camunda.zeebe.stream.impl.StreamProcessor;
import io.camunda.zeebe.stream.impl.StreamProcessorContext;
import io.camunda.zeebe.util.buffer.BufferWriter;
import io.camunda.zeebe.util.health.HealthIssue;
import io.camunda.zeebe.util.health.HealthReport;
import io.grpc.BindableService;
import io.grpc.ForwardingServerCall;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyServerBuilder;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.lang.management.MemoryUsage;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.AbstractList;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.RandomAccess;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import java.util.stream.Stream;
import java.util.zip.CRC32;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;

public class HireflowEmbeddedEngine {
  private static final ObjectMapper JSON = new ObjectMapper();
  // A poll that names no request timeout is held this long, as a cluster's gateway holds it.
  private static final long DEFAULT_LONG_POLL_MS = 10_000;
  private static final long LONG_POLL_CHECK_MS = 50;
  private static final int RECORDS_PAGE_MAX = 2000;
  private static final int PARTITION_ID = 1;
  private static final String DEFAULT_TENANT_ID = "<default>";
  // What a route answers for REST v2's 204 (a job completed or its error thrown).
  private static final Object NO_CONTENT = new Object();

  private final ZeebeTestEngine engine;
  private final ZeebeClient client;
  // Through the public gateway, so a REST job activation is held as a gRPC one is.
  private ZeebeClient publicClient;
  private final Object commandWriter;
  private final Method writeCommandWithKey;
  private final ActorClock clock;
  private final DurableLog durableLog;

  HireflowEmbeddedEngine(ZeebeTestEngine engine, DurableLog durableLog)
      throws ReflectiveOperationException {
    this.engine = engine;
    this.durableLog = durableLog;
    this.client = engine.createClient();
    // The embedded gateway has no user-task commands (they are REST-only in Camunda 8),
    // so write the command to the log the same way the gateway writes its own.
    Field logStreamField = engine.getClass().getDeclaredField("logStream");
    logStreamField.setAccessible(true);
    LogStream logStream = (LogStream) logStreamField.get(engine);
    Class<?> writerClass = Class.forName("io.camunda.zeebe.process.test.engine.CommandWriter");
    Constructor<?> constructor = writerClass.getDeclaredConstructors()[0];
    constructor.setAccessible(true);
    this.commandWriter = constructor.newInstance(logStream.newLogStreamWriter());
    this.writeCommandWithKey =
        writerClass.getDeclaredMethod(
            "writeCommandWithKey", Long.class, UnifiedRecordValue.class, RecordMetadata.class);
    this.writeCommandWithKey.setAccessible(true);
    // The engine's clock runs ahead of the machine's once tests move it; timers use it.
    Field clockField = engine.getClass().getDeclaredField("clock");
    clockField.setAccessible(true);
    this.clock = (ActorClock) clockField.get(engine);
  }

  public static void main(String[] args) {
    try {
      run(args);
    } catch (Throwable failed) {
      // The engine's threads run already and would keep this process alive, and its caller
      // would wait for a health check that never answers (120 s for make run): stop it.
      failed.printStackTrace();
      System.err.flush();
      Runtime.getRuntime().halt(1);
    }
  }

  /**
   * Stops this engine (as on SIGTERM) when the process in {@code hireflow.parentPid} ends,
   * even by SIGKILL: otherwise it would go on holding its ports and its log's lock, and the
   * next {@code make run} would refuse to start. False if that process has ended already.
   */
  static boolean stopsWithParent() {
    String property = System.getProperty("hireflow.parentPid");
    if (property == null) {
      return true;
    }
    long parentPid = Long.parseLong(property);
    if (parentPid(-1) != parentPid) {
      System.out.println(
          "Not started: the process that started the engine (pid " + parentPid + ") has ended");
      return false;
    }
    // Linux gives an orphan to another parent (init, or a subreaper) the moment its parent
    // ends, zombie or not: so a changed parent pid is the sign, and a stranger that gets the
    // old pid later cannot keep this engine alive.
    Thread watch =
        new Thread(
            () -> {
              while (parentPid(parentPid) == parentPid) {
                try {
                  Thread.sleep(500);
                } catch (InterruptedException stopped) {
                  return;
                }
              }
              System.out.println(
                  "The process that started the engine (pid " + parentPid + ") has ended: stopping");
              System.exit(0);
            },
            "parent-watch");
    watch.setDaemon(true);
    watch.start();
    return true;
  }

  /** This process's parent's pid, or {@code otherwise} if it cannot be read. */
  static long parentPid(long otherwise) {
    return ProcessHandle.current().parent().map(ProcessHandle::pid).orElse(otherwise);
  }

  private static void run(String[] args) throws Exception {
    if (!stopsWithParent()) {
      return;
    }
    int grpcPort = Integer.parseInt(args[0]);
    int controlPort = Integer.parseInt(args[1]);
    ZeebeTestEngine engine = EngineFactory.create(freePort());
    DurableLog durableLog = args.length > 2 ? new DurableLog(Path.of(args[2])) : null;
    if (durableLog != null) {
      // Before the engine starts: its stream processor replays what was read back.
      try {
        long entries = durableLog.restore(engine);
        System.out.println(
            "Engine log " + durableLog.file + ": read back " + entries + " entries, up to position "
                + durableLog.lastPosition);
        durableLog.restoreClock(engine);
      } catch (IllegalStateException refused) {
        // The engine's threads run already and would keep this process alive: exit.
        System.out.println("Refused to start: " + refused.getMessage());
        System.out.flush();
        Runtime.getRuntime().halt(2);
      }
    }
    if (durableLog == null) {
      guardLogEntries(engine);
    }
    UndeliveredJobs undelivered = new UndeliveredJobs();
    answerOnlyLiveRequests(engine, undelivered);
    // After the log's file is locked: another engine on the same file uses its state directory.
    Path stateDirectory = stateDirectory(durableLog == null ? null : durableLog.file);
    useRocksDbState(engine, stateDirectory);
    engine.start();
    HireflowEmbeddedEngine app = new HireflowEmbeddedEngine(engine, durableLog);
    undelivered.failBackThrough(app.client);
    Server publicGateway = app.publicGateway(grpcPort).start();
    app.publicClient =
        ZeebeClient.newClientBuilder().gatewayAddress("127.0.0.1:" + grpcPort).usePlaintext().build();

    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", controlPort), 0);
    // A REST job activation holds its thread while it is held (up to its request timeout).
    server.setExecutor(Executors.newFixedThreadPool(16));
    server.createContext("/", app::handle);
    server.start();
    System.out.println(
        "Embedded Zeebe engine ready: gRPC port " + grpcPort + ", control port " + controlPort);

    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  server.stop(0);
                  publicGateway.shutdownNow();
                  app.client.close();
                  app.publicClient.close();
                  engine.stop();
                  try {
                    deleteTree(stateDirectory); // the next start rebuilds it from the log
                  } catch (IOException e) {
                    System.err.println("could not remove " + stateDirectory + ": " + e);
                  }
                  stopped.countDown();
                }));
    stopped.await();
  }

  // Zeebe's RocksDB state store may use this much memory (its block cache and write buffers,
  // off the Java heap) before it writes to its files. A broker's default is 512 MB per
  // partition; this engine's state (the instances running now, not those that ended) is small.
  static final long STATE_MEMORY_LIMIT = 64L * 1024 * 1024;
  private static final String STATE_DIRECTORY_PREFIX = "hireflow-zeebe-state-";

  /**
   * Gives the engine Zeebe's RocksDB state store, the one a broker runs, in place of
   * zeebe-process-test's in-memory one, before the engine starts (the stream processor opens
   * the store it was given when it starts).
   *
   * <p>The in-memory store copied its whole state into a new map for every prefix iteration
   * (an element's variables, its event triggers, its timers and subscriptions) and then read
   * every key after the prefix: over half of the engine's CPU at 750 instances, and more the
   * more it held, so a long-running engine's commands got slower by the hour (the soak's
   * batches went from 20 to 28 s over 6,000 instances). RocksDB seeks to a prefix.
   *
   * <p>The store starts empty: the engine rebuilds its state by replaying its log, as before.
   */
  static void useRocksDbState(ZeebeTestEngine engine, Path directory) throws Exception {
    RocksDbConfiguration configuration = new RocksDbConfiguration().setMemoryLimit(STATE_MEMORY_LIMIT);
    ZeebeRocksDbFactory<ZbColumnFamilies> factory =
        new ZeebeRocksDbFactory<>(
            configuration,
            new ConsistencyChecksSettings(),
            new AccessMetricsConfiguration(AccessMetricsConfiguration.Kind.NONE, PARTITION_ID),
            SimpleMeterRegistry::new);
    ZeebeDb<ZbColumnFamilies> state = factory.createDb(directory.toFile());
    ZeebeDb<?> inMemory = (ZeebeDb<?>) readField(engine, "database");
    // The stream processor reads the field when it starts; the engine closes its own on stop.
    writeField(readField(engine, "streamProcessor"), "zeebeDb", state);
    writeField(engine, "database", state);
    inMemory.close();
  }

  /**
   * An empty directory for the engine's state store. Next to the log's file, given one (so
   * `make clean-data` removes it too); otherwise a directory of this process's own under the
   * temporary directory, after removing those of engines no longer running (one killed with
   * SIGKILL leaves its own behind).
   */
  static Path stateDirectory(Path logFile) throws IOException {
    Path directory;
    if (logFile != null) {
      directory = logFile.resolveSibling(logFile.getFileName() + ".state");
    } else {
      Path temporary = Path.of(System.getProperty("java.io.tmpdir"));
      try (DirectoryStream<Path> others =
          Files.newDirectoryStream(temporary, STATE_DIRECTORY_PREFIX + "*")) {
        for (Path other : others) {
          String pid = other.getFileName().toString().substring(STATE_DIRECTORY_PREFIX.length());
          if (pid.matches("[0-9]+") && ProcessHandle.of(Long.parseLong(pid)).isEmpty()) {
            deleteTree(other);
          }
        }
      }
      directory = temporary.resolve(STATE_DIRECTORY_PREFIX + ProcessHandle.current().pid());
    }
    deleteTree(directory); // rebuilt from the log at every start
    return directory;
  }

  private static void deleteTree(Path root) throws IOException {
    if (!Files.exists(root)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(root)) {
      for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(path);
      }
    }
  }

  /**
   * The in-memory log keeps its entries in a plain ArrayList: the thread that appends (a gateway
   * thread or the stream processor, under the sequencer's lock) and the threads that read (the
   * stream processor, the record source) share it with no memory barrier between them, so a
   * reader may see the list's new size before its new entry, or before its grown array. The
   * stream processor failing on such a read would stop the engine for good: every later
   * command times out. A synchronized list gives every reader a consistent view.
   */
  private static void guardLogEntries(ZeebeTestEngine engine) throws ReflectiveOperationException {
    Object logStream = readField(engine, "logStream");
    Object logStorage = readField(logStream, "logStorage");
    Field entries = logStorage.getClass().getDeclaredField("logEntries");
    entries.setAccessible(true);
    List<?> appended = (List<?>) entries.get(logStorage);
    entries.set(logStorage, Collections.synchronizedList(new ArrayList<>(appended)));
  }

  /**
   * Commands the last engine wrote to its log but did not process before it died are processed
   * by this one, and each answer is meant for a request of the last engine. The embedded
   * gateway's response writer does not know such a request and throws; the stream processor
   * then skips the rest of the command's side effects, among them its post-commit tasks: a job
   * failed with a retry backoff was never scheduled to come back, and its instance waited for
   * ever. A broker drops an answer nobody waits for; so does this engine now.
   */
  private static void answerOnlyLiveRequests(ZeebeTestEngine engine, UndeliveredJobs undelivered)
      throws ReflectiveOperationException {
    StreamProcessor processor = (StreamProcessor) readField(engine, "streamProcessor");
    StreamProcessorContext context = (StreamProcessorContext) readField(processor, "streamProcessorContext");
    CommandResponseWriter writer = context.getCommandResponseWriter();
    Map<?, ?> waiting = (Map<?, ?>) readField(readField(writer, "gatewayRequestStore"), "requestMap");
    context.commandResponseWriter(new LiveRequestsOnly(writer, waiting, undelivered));
  }

  /**
   * Jobs activated for a client that hung up before it got them (a worker killed while its poll
   * was answered), failed back with the retries they had and no backoff, so the engine offers
   * them again at once: what a cluster's gateway does with a batch it could not send
   * (RoundRobinActivateJobsHandler), instead of leaving them to their timeout.
   */
  static final class UndeliveredJobs {
    static final String MESSAGE = "Failed to send activated jobs to client";
    private final ExecutorService sender = Executors.newSingleThreadExecutor(UndeliveredJobs::daemon);
    private volatile ZeebeClient client;

    private static Thread daemon(Runnable task) {
      Thread thread = new Thread(task, "undelivered-jobs");
      thread.setDaemon(true);
      return thread;
    }

    void failBackThrough(ZeebeClient client) {
      this.client = client;
    }

    /** Called on the stream processor's thread: copies what it needs, sends elsewhere. */
    void failBack(JobBatchRecord batch) {
      List<Long> keys = List.copyOf(batch.getJobKeys());
      List<Integer> retries = batch.getJobs().stream().map(JobRecordValue::getRetries).toList();
      ZeebeClient failing = client;
      if (failing == null || keys.size() != retries.size()) {
        return; // before the engine is ready: the jobs' timeouts bring them back, as before
      }
      sender.execute(
          () -> {
            for (int i = 0; i < keys.size(); i++) {
              long key = keys.get(i);
              failing
                  .newFailCommand(key)
                  .retries(retries.get(i))
                  .retryBackoff(Duration.ZERO)
                  .errorMessage(MESSAGE)
                  .send()
                  .exceptionally(
                      failure -> {
                        System.err.println("job " + key + " not failed back: " + failure);
                        return null;
                      });
            }
          });
    }
  }

  /**
   * Hands an answer to the gateway's writer only when its request still waits for it, and
   * drops it when the client hung up meanwhile. zeebe-process-test's writer throws in both
   * cases (an unknown request; a cancelled call), and a throw skips the command's post-commit
   * tasks. Jobs in a dropped answer are failed back (see {@link UndeliveredJobs}).
   */
  private static final class LiveRequestsOnly implements CommandResponseWriter {
    private final CommandResponseWriter writer;
    private final Map<?, ?> waiting;
    private final UndeliveredJobs undelivered;
    // The answer being written: the stream processor sets these, then calls tryWriteResponse.
    private ValueType valueType;
    private Intent intent;
    private BufferWriter value;

    LiveRequestsOnly(CommandResponseWriter writer, Map<?, ?> waiting, UndeliveredJobs undelivered) {
      this.writer = writer;
      this.waiting = waiting;
      this.undelivered = undelivered;
    }

    @Override
    public CommandResponseWriter partitionId(int partitionId) {
      writer.partitionId(partitionId);
      return this;
    }

    @Override
    public CommandResponseWriter key(long key) {
      writer.key(key);
      return this;
    }

    @Override
    public CommandResponseWriter intent(Intent intent) {
      this.intent = intent;
      writer.intent(intent);
      return this;
    }

    @Override
    public CommandResponseWriter recordType(RecordType type) {
      writer.recordType(type);
      return this;
    }

    @Override
    public CommandResponseWriter valueType(ValueType type) {
      this.valueType = type;
      writer.valueType(type);
      return this;
    }

    @Override
    public CommandResponseWriter rejectionType(RejectionType type) {
      writer.rejectionType(type);
      return this;
    }

    @Override
    public CommandResponseWriter rejectionReason(DirectBuffer reason) {
      writer.rejectionReason(reason);
      return this;
    }

    @Override
    public CommandResponseWriter valueWriter(BufferWriter value) {
      this.value = value;
      writer.valueWriter(value);
      return this;
    }

    @Override
    public void tryWriteResponse(int requestStreamId, long requestId) {
      if (!waiting.containsKey(requestId)) {
        return;
      }
      try {
        writer.tryWriteResponse(requestStreamId, requestId);
      } catch (RuntimeException answer) {
        // The client hung up while its command waited (a worker killed in the middle of a job
        // activation): the answer has nobody to go to either.
        if (!hungUp(answer)) {
          throw answer;
        }
        if (valueType == ValueType.JOB_BATCH
            && intent == JobBatchIntent.ACTIVATED
            && value instanceof JobBatchRecord batch) {
          undelivered.failBack(batch);
        }
      }
    }

    private static boolean hungUp(Throwable failure) {
      for (Throwable cause = failure; cause != null; cause = cause.getCause()) {
        if (cause instanceof StatusRuntimeException status
            && status.getStatus().getCode() == Status.Code.CANCELLED) {
          return true;
        }
      }
      return false;
    }
  }

  /**
   * The engine's log, kept in a file instead of in memory.
   *
   * <p>Zeebe's state is a function of its log: a broker that restarts without a snapshot
   * replays the log's events to rebuild it, and processes the commands after the last one
   * processed. The in-memory log of zeebe-process-test loses that log with the process, and
   * holds every entry on the heap, which it fills (about 80 KB per instance of the four
   * processes). This keeps every entry the log appends in a file and reads it from there
   * ({@link EntriesInFile}); a new engine's log is given the file's entries before it starts,
   * so its stream processor replays them as a broker does.
   *
   * <p>Each entry is a frame: its lowest position, its length, its bytes and their CRC32. A
   * frame cut short by a kill is dropped (and cut off the file) on the next start: its
   * records were never answered as written. So are zeros at the end, where the file grew but
   * its last bytes never reached the disk. Any other frame that does not read right is
   * damage, and the engine refuses to start rather than drop it and every entry after it.
   * The file is written, not synced: it survives a killed process, not a machine that loses
   * power.
   */
  static final class DurableLog {
    // No entry is longer: twice the largest fragment of the log stream (4 MB, the default of
    // LogStreamBuilderImpl, which zeebe-process-test keeps). A frame header that says more
    // is damaged, not cut short.
    private static final int MAX_ENTRY_BYTES = 8 * 1024 * 1024;
    private final Path file;
    private final Path clockFile;
    private long lastPosition;
    private long clockOffset;
    private FileChannel channel;

    DurableLog(Path file) {
      this.file = file;
      this.clockFile = Path.of(file + ".clock");
    }

    /**
     * Give the engine's log the entries in the file, and from now on keep the entries it
     * appends there; returns how many entries the file held.
     */
    long restore(ZeebeTestEngine engine) throws Exception {
      Object logStream = readField(engine, "logStream");
      Object storage = readField(logStream, "logStorage");
      Files.createDirectories(file.toAbsolutePath().getParent());
      channel =
          FileChannel.open(
              file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
      // Two engines on one file would cut off and interleave each other's entries.
      if (channel.tryLock() == null) {
        throw new IllegalStateException(
            file + " is in use by another engine; stop it first (make engine-stop, or Ctrl-C in"
                + " the terminal of the make run that started it)");
      }
      // What the log's reader looks up: an entry's index by its lowest position.
      @SuppressWarnings("unchecked")
      ConcurrentSkipListMap<Long, Integer> index =
          (ConcurrentSkipListMap<Long, Integer>) readField(storage, "positionIndexMapping");
      EntriesInFile entries = new EntriesInFile(channel);
      long goodBytes = 0;
      // Not closed: closing the stream would close the channel, and with it the lock.
      DataInputStream in = new DataInputStream(new BufferedInputStream(Channels.newInputStream(channel)));
      long size = channel.size();
      byte[] block = new byte[0];
      long previousPosition = -1;
      while (true) {
        long lowestPosition;
        int length;
        try {
          lowestPosition = in.readLong();
          length = in.readInt();
          if (lowestPosition == 0 && length == 0 && zerosFrom(goodBytes, size)) {
            break; // the file grew, but these bytes never reached the disk
          }
          // Positions only grow, and every entry holds at least one record: a header that
          // says otherwise, or a length no entry has, is damaged, even at the end.
          if (length <= 0 || length > MAX_ENTRY_BYTES || lowestPosition <= previousPosition) {
            throw damagedAt(goodBytes);
          }
          if (goodBytes + 16 + length > size) {
            break; // a frame the kill cut short: its length is there, not all its bytes
          }
          if (block.length < length) {
            block = new byte[length];
          }
          in.readFully(block, 0, length);
          if (in.readInt() != (int) crc(block, length)) {
            if (goodBytes + 16 + length < size) {
              // Not the last frame: not a cut-off write but damage. Refuse rather than
              // start on a part of the state and drop the rest.
              throw damagedAt(goodBytes);
            }
            break;
          }
        } catch (EOFException cutShort) {
          break;
        }
        // What InMemoryLogStorage.append does, but the entry stays in the file.
        entries.readBack(goodBytes + 8 + 4, length);
        index.put(lowestPosition, entries.size());
        goodBytes += 8 + 4 + length + 4;
        previousPosition = lowestPosition;
      }
      channel.truncate(goodBytes);
      entries.appendAt(goodBytes);
      Field logEntries = storage.getClass().getDeclaredField("logEntries");
      logEntries.setAccessible(true);
      logEntries.set(storage, entries);
      // Commands the last engine took but had not processed are processed now, and their
      // answers name the last engine's request ids. Those count from 1 in every engine: start
      // far above any id the last one gave out, so no such answer reaches a new request.
      Object requests = readField(readField(engine, "gateway"), "gatewayRequestStore");
      ((AtomicLong) readField(requests, "requestIdGenerator")).set(System.currentTimeMillis() << 16);
      if (entries.size() > 0) {
        // The log stream chose its next position when it was built, from an empty log.
        Method last = logStream.getClass().getDeclaredMethod("getLastCommittedPosition");
        last.setAccessible(true);
        lastPosition = (long) last.invoke(logStream);
        Object sequencer = readField(logStream, "sequencer");
        Field position = sequencer.getClass().getDeclaredField("position");
        position.setAccessible(true);
        position.setLong(sequencer, lastPosition + 1);
      }
      return entries.size();
    }

    /** Whether the file holds only zero bytes from ``offset`` to ``size``. */
    private boolean zerosFrom(long offset, long size) throws IOException {
      ByteBuffer chunk = ByteBuffer.allocate(64 * 1024);
      for (long at = offset; at < size; ) {
        chunk.clear();
        int read = channel.read(chunk, at);
        if (read < 0) {
          return true;
        }
        for (int i = 0; i < read; i++) {
          if (chunk.get(i) != 0) {
            return false;
          }
        }
        at += read;
      }
      return true;
    }

    private IllegalStateException damagedAt(long offset) {
      return new IllegalStateException(
          file + " is damaged at byte " + offset + "; move it aside to start afresh (its instances"
              + " are lost then)");
    }

    /** Move a new engine's clock as far ahead as the last one's was moved. */
    void restoreClock(ZeebeTestEngine engine) throws IOException {
      if (Files.exists(clockFile)) {
        try {
          clockOffset = Long.parseLong(Files.readString(clockFile).trim());
        } catch (NumberFormatException damaged) {
          throw new IllegalStateException(
              clockFile + " is damaged (it holds how many milliseconds tests moved the engine's"
                  + " clock ahead); delete it to keep the clock as it is");
        }
        engine.increaseTime(Duration.ofMillis(clockOffset));
      }
    }

    synchronized void clockMoved(long offsetMilli) throws IOException {
      clockOffset += offsetMilli;
      Files.writeString(clockFile, Long.toString(clockOffset));
    }

    private static long crc(byte[] block, int length) {
      CRC32 crc = new CRC32();
      crc.update(block, 0, length);
      return crc.getValue();
    }
  }

  /**
   * The log's entries as the in-memory log's list, kept in the state file: the heap holds where
   * each entry is, 12 bytes, instead of the entry, and the operating system's page cache holds
   * the entries read often (the newest).
   *
   * <p>The log appends an entry to this list and then maps its lowest position to its index;
   * its readers get entries by index. {@link #add} writes the entry's frame at the end of the
   * file before the log commits the entry, so before any client is answered; {@link #get}
   * reads the entry's bytes back into a buffer of its own. Its methods are synchronized: the
   * thread that appends and the threads that read share it (see
   * {@link HireflowEmbeddedEngine#guardLogEntries}, which does the same for the list in memory).
   */
  static final class EntriesInFile extends AbstractList<ByteBuffer> implements RandomAccess {
    private final FileChannel channel;
    // Where each entry's bytes start in the file, and how many there are.
    private long[] offsets = new long[1024];
    private int[] lengths = new int[1024];
    private int size;
    // Where the next frame goes.
    private long end;

    EntriesInFile(FileChannel channel) {
      this.channel = channel;
    }

    /** An entry read back from the file at start, its bytes at ``offset``. */
    synchronized void readBack(long offset, int length) {
      remember(offset, length);
    }

    /** Write the next frame at ``offset`` (the end of the last whole frame). */
    synchronized void appendAt(long offset) {
      end = offset;
    }

    @Override
    public synchronized boolean add(ByteBuffer entry) {
      byte[] block = new byte[entry.capacity()];
      entry.duplicate().clear().get(block);
      // An entry is its records, one after another, the lowest position first.
      LoggedEventImpl first = new LoggedEventImpl();
      first.wrap(new UnsafeBuffer(block), 0);
      ByteBuffer frame = ByteBuffer.allocate(8 + 4 + block.length + 4);
      frame.putLong(first.getPosition()).putInt(block.length).put(block);
      frame.putInt((int) DurableLog.crc(block, block.length)).flip();
      try {
        while (frame.hasRemaining()) {
          channel.write(frame, end + frame.position());
        }
      } catch (IOException e) {
        // A log that cannot be kept must not look kept: stop, and let the supervisor see it.
        e.printStackTrace();
        Runtime.getRuntime().halt(3);
      }
      remember(end + 8 + 4, block.length);
      end += frame.limit();
      return true;
    }

    @Override
    public ByteBuffer get(int index) {
      long offset;
      int length;
      synchronized (this) {
        Objects.checkIndex(index, size);
        offset = offsets[index];
        length = lengths[index];
      }
      ByteBuffer entry = ByteBuffer.allocate(length);
      try {
        while (entry.hasRemaining()) {
          if (channel.read(entry, offset + entry.position()) < 0) {
            throw new EOFException("the engine's log file ends inside entry " + index);
          }
        }
      } catch (IOException e) {
        // The stream processor cannot go on without its log: stop, as on a failed write.
        e.printStackTrace();
        Runtime.getRuntime().halt(3);
      }
      return entry.flip();
    }

    @Override
    public synchronized int size() {
      return size;
    }

    private void remember(long offset, int length) {
      if (size == offsets.length) {
        offsets = Arrays.copyOf(offsets, size * 2);
        lengths = Arrays.copyOf(lengths, size * 2);
      }
      offsets[size] = offset;
      lengths[size] = length;
      size++;
    }
  }

  private static Object readField(Object owner, String name) throws ReflectiveOperationException {
    Field field = owner.getClass().getDeclaredField(name);
    field.setAccessible(true);
    return field.get(owner);
  }

  private static void writeField(Object owner, String name, Object value)
      throws ReflectiveOperationException {
    Field field = owner.getClass().getDeclaredField(name);
    field.setAccessible(true);
    field.set(owner, value);
  }

  /**
   * A cluster's gateway gives a job stream that names no tenant the default tenant (multi-tenancy
   * off); the embedded gateway does not, and the engine then pushes nothing to the stream. Clients
   * such as pyzeebe name no tenant, so their streams get the default here, as on a cluster.
   */
  private static final ServerInterceptor DEFAULT_TENANT =
      new ServerInterceptor() {
        @Override
        public <Q, R> ServerCall.Listener<Q> interceptCall(
            ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
          ServerCall.Listener<Q> listener = next.startCall(call, headers);
          if (!"StreamActivatedJobs".equals(call.getMethodDescriptor().getBareMethodName())) {
            return listener;
          }
          return new ForwardingServerCallListener.SimpleForwardingServerCallListener<Q>(listener) {
            @Override
            @SuppressWarnings("unchecked")
            public void onMessage(Q message) {
              if (message instanceof StreamActivatedJobsRequest request && request.getTenantIdsCount() == 0) {
                message = (Q) request.toBuilder().addTenantIds(DEFAULT_TENANT_ID).build();
              }
              super.onMessage(message);
            }
          };
        }
      };

  /** The engine's own gateway on ``port``, with long polling and the default tenant added. */
  private Server publicGateway(int port) throws ReflectiveOperationException {
    Field gatewayField = engine.getClass().getDeclaredField("gateway");
    gatewayField.setAccessible(true);
    BindableService gateway = (BindableService) gatewayField.get(engine);
    return NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", port))
        .addService(ServerInterceptors.intercept(gateway, new LongPolling(), DEFAULT_TENANT))
        .build();
  }

  /**
   * Long polling for ActivateJobs, without writing to the log while nothing changes.
   *
   * <p>A job becomes activatable when it is created, times out, fails with retries left and no
   * backoff, comes back from a backoff, is yielded by a stream, or its incident is resolved. A
   * cluster's broker then pushes it to a job stream if one is open, and else tells the
   * gateway's held polls. So once a poll for a type found nothing, the next poll for it is held
   * until such a change made a job of that type activatable and no stream took it (see {@link
   * #readJobEvents}); after the request's timeout it is answered with no jobs, as a
   * long-polling gateway answers, without being passed on. A poll that finds jobs, or follows
   * such a change, is passed on at once.
   */
  private final class LongPolling implements ServerInterceptor {
    // By job type: the log position read just before a poll that found nothing was passed on.
    private final Map<String, Long> foundNothingAfter = new ConcurrentHashMap<>();

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(
        ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
      if (!"ActivateJobs".equals(call.getMethodDescriptor().getBareMethodName())) {
        return next.startCall(call, headers);
      }
      AtomicReference<String> jobType = new AtomicReference<>();
      AtomicLong readUpTo = new AtomicLong(-1);
      AtomicBoolean foundJobs = new AtomicBoolean(false);
      ServerCall<Q, R> watched =
          new ForwardingServerCall.SimpleForwardingServerCall<Q, R>(call) {
            @Override
            public void sendMessage(R message) {
              if (message instanceof ActivateJobsResponse response && response.getJobsCount() > 0) {
                foundJobs.set(true);
              }
              super.sendMessage(message);
            }

            @Override
            public void close(Status status, Metadata trailers) {
              if (status.isOk() && jobType.get() != null) {
                if (foundJobs.get()) {
                  foundNothingAfter.remove(jobType.get());
                } else {
                  foundNothingAfter.put(jobType.get(), readUpTo.get());
                }
              }
              super.close(status, trailers);
            }
          };
      ServerCall.Listener<Q> handler = next.startCall(watched, headers);
      return new ForwardingServerCallListener.SimpleForwardingServerCallListener<Q>(handler) {
        private long holdMs = DEFAULT_LONG_POLL_MS;

        @Override
        public void onMessage(Q message) {
          if (message instanceof ActivateJobsRequest request) {
            jobType.set(request.getType());
            if (request.getRequestTimeout() > 0) {
              holdMs = request.getRequestTimeout();
            }
          }
          super.onMessage(message);
        }

        @Override
        public void onHalfClose() {
          String type = jobType.get();
          long deadline = System.currentTimeMillis() + holdMs;
          if (type != null) {
            followLog();
            readJobEvents();
          }
          try {
            while (type != null) {
              long left = deadline - System.currentTimeMillis();
              Object monitor = jobReadyMonitors.computeIfAbsent(type, t -> new Object());
              synchronized (monitor) {
                if (left <= 0 || !nothingNewFor(type) || call.isCancelled()) {
                  break;
                }
                // Woken when a job of the type becomes activatable; the cap is a fallback.
                monitor.wait(Math.min(left, LONG_POLL_CHECK_MS));
              }
            }
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
          if (call.isCancelled()) {
            // The client hung up while its poll was held (a worker killed): activating jobs
            // for it would leave them to their timeout. A cluster's gateway drops such a poll.
            return;
          }
          if (type != null && nothingNewFor(type)) {
            // Still nothing: the answer would be empty, so give it without writing a command.
            call.sendHeaders(new Metadata());
            call.close(Status.OK, new Metadata());
            return;
          }
          readUpTo.set(readJobEvents());
          super.onHalfClose();
        }
      };
    }

    /** Whether a poll for {@code type} would find nothing, as far as the log was read. */
    private boolean nothingNewFor(String type) {
      Long emptyAfter = foundNothingAfter.get(type);
      if (emptyAfter == null) {
        return false;
      }
      synchronized (jobEventReading) {
        if (lastUnknownJobReady > emptyAfter) {
          return false; // a job of a type not known here became activatable: let every poll look
        }
        return activatableJobs.getOrDefault(type, Set.of()).isEmpty()
            || lastJobReady.getOrDefault(type, -1L) <= emptyAfter;
      }
    }
  }

  // By job type: what its held polls wait on; notified when a job of the type becomes activatable.
  private final Map<String, Object> jobReadyMonitors = new ConcurrentHashMap<>();
  // Set by the log's listener on every append, for the thread that reads the log.
  private final Object logAppended = new Object();
  private boolean appendPending;
  private volatile boolean logFollowed;

  /**
   * Read the log as the engine appends to it, in a thread of its own, and wake the held polls
   * of the job types it made activatable: at once, as a cluster's broker tells its gateway.
   * Held polls once looked every 50 ms, which capped a polling worker at about 20 jobs a
   * second per poll. Started by the first held poll.
   */
  private void followLog() {
    if (logFollowed) {
      return;
    }
    synchronized (logAppended) {
      if (logFollowed) {
        return;
      }
      try {
        ((LogStream) readField(engine, "logStream"))
            .registerRecordAvailableListener(
                () -> {
                  synchronized (logAppended) {
                    appendPending = true;
                    logAppended.notify();
                  }
                });
      } catch (ReflectiveOperationException e) {
        throw new IllegalStateException("The engine's log cannot be followed", e);
      }
      Thread reader =
          new Thread(
              () -> {
                while (true) {
                  try {
                    synchronized (logAppended) {
                      if (!appendPending) {
                        logAppended.wait(LONG_POLL_CHECK_MS); // also a fallback, should a call be missed
                      }
                      appendPending = false;
                    }
                    readJobEvents();
                  } catch (InterruptedException e) {
                    return;
                  } catch (RuntimeException e) {
                    System.err.println("long polling: reading the log failed: " + e);
                  }
                }
              },
              "long-poll-log-reader");
      reader.setDaemon(true);
      reader.start();
      logFollowed = true;
    }
  }

  // Guarded by jobEventReading, as is everything readJobEvents() reads into.
  private final Object jobEventReading = new Object();
  // By job type: the log position of the last change that made a job of that type activatable.
  private final Map<String, Long> lastJobReady = new HashMap<>();
  // By job type: the jobs that may be activatable (made so, and not activated or ended since).
  private final Map<String, Set<Long>> activatableJobs = new HashMap<>();
  // The type of every job not ended (completed, cancelled, or its error thrown), for an
  // incident resolved on it.
  private final Map<Long, String> jobTypes = new HashMap<>();
  // The position of an incident resolved on a job of a type not known here (one whose
  // error no boundary event caught).
  private long lastUnknownJobReady = -1;
  private LogStreamReader jobEventReader;
  private final RecordMetadata jobEventMetadata = new RecordMetadata();
  private final JobRecord jobEventValue = new JobRecord();
  private final JobBatchRecord jobBatchValue = new JobBatchRecord();
  private final IncidentRecord incidentValue = new IncidentRecord();
  private long lastReadPosition = -1;

  /**
   * Read the records written since the last call; returns the last position read.
   *
   * <p>It follows which jobs are activatable, as the broker decides when it tells held polls:
   * a job made activatable (created, timed out, failed with retries left and no backoff, back
   * from a backoff, yielded, retries or the job updated, its incident resolved) is; a job
   * activated (a job batch, whether a poll asked for it or the engine pushed it to a stream)
   * or ended is not. So a job pushed to a stream at its creation wakes no held poll, as on a
   * cluster. Waking them for every job event made every pool process's held poll for the
   * type send one activation per job, which found nothing and cost the engine a command.
   *
   * <p>Its own reader, and only each record's metadata (the value of job, job batch and
   * resolved incident events too): the engine's record source would turn every record into a
   * full copy, which cost a quarter of the engine's CPU under load while polls were held.
   */
  private long readJobEvents() {
    long readUpTo = readJobEventsAndCollectReadyTypes();
    for (String type : List.copyOf(madeReady)) {
      if (!madeReady.remove(type)) {
        continue; // woken by another reader meanwhile
      }
      if (UNKNOWN_TYPE.equals(type)) {
        jobReadyMonitors.values().forEach(HireflowEmbeddedEngine::wakeAll);
      } else {
        Object monitor = jobReadyMonitors.get(type);
        if (monitor != null) {
          wakeAll(monitor);
        }
      }
    }
    return readUpTo;
  }

  private static void wakeAll(Object monitor) {
    synchronized (monitor) {
      monitor.notifyAll();
    }
  }

  // The job types made activatable by the records read since their polls were last woken.
  private final Set<String> madeReady = ConcurrentHashMap.newKeySet();
  // Stands for a job type not known here (an incident resolved on a job never seen).
  private static final String UNKNOWN_TYPE = "\u0000unknown";

  private long readJobEventsAndCollectReadyTypes() {
    synchronized (jobEventReading) {
      if (jobEventReader == null) {
        jobEventReader = newLogReader();
      }
      if (lastReadPosition < 0) {
        jobEventReader.seekToFirstEvent();
      } else {
        jobEventReader.seekToNextEvent(lastReadPosition);
      }
      while (jobEventReader.hasNext()) {
        LoggedEvent event = jobEventReader.next();
        lastReadPosition = event.getPosition();
        event.readMetadata(jobEventMetadata);
        if (jobEventMetadata.getRecordType() != RecordType.EVENT) {
          continue;
        }
        switch (jobEventMetadata.getValueType()) {
          case JOB -> {
            event.readValue(jobEventValue);
            followJobEvent(event.getKey(), jobEventMetadata.getIntent(), jobEventValue);
          }
          case JOB_BATCH -> {
            // Activated: by a poll, or pushed to a stream by the engine.
            event.readValue(jobBatchValue);
            for (long jobKey : jobBatchValue.getJobKeys()) {
              String type = jobTypes.get(jobKey);
              if (type != null) {
                jobGone(type, jobKey);
              }
            }
          }
          case INCIDENT -> {
            if (jobEventMetadata.getIntent() == IncidentIntent.RESOLVED) {
              event.readValue(incidentValue);
              long jobKey = incidentValue.getJobKey();
              if (jobKey > 0) {
                String type = jobTypes.get(jobKey);
                if (type == null) {
                  lastUnknownJobReady = lastReadPosition;
                  madeReady.add(UNKNOWN_TYPE);
                } else {
                  jobReady(type, jobKey);
                }
              }
            }
          }
          default -> {}
        }
      }
      return lastReadPosition;
    }
  }

  private void followJobEvent(long jobKey, Intent intent, JobRecord job) {
    String type = job.getType();
    if (intent == JobIntent.COMPLETED || intent == JobIntent.CANCELED) {
      jobTypes.remove(jobKey);
      jobGone(type, jobKey);
    } else if (intent == JobIntent.ERROR_THROWN) {
      // Caught, the job is over and writes nothing more, so it is forgotten here (kept, every
      // business error would stay in jobTypes for good). Not caught, it becomes an incident,
      // and resolving that makes the job activatable again: a job of a type not known here.
      jobTypes.remove(jobKey);
      jobGone(type, jobKey);
    } else if (intent == JobIntent.TIMEOUT_UPDATED) {
      jobGone(type, jobKey);
    } else if (intent == JobIntent.FAILED && (job.getRetries() <= 0 || job.getRetryBackoff() > 0)) {
      jobGone(type, jobKey); // an incident, or activatable again only after its backoff
    } else {
      // Created, timed out, failed to retry at once, back from a backoff, yielded, updated,
      // migrated, or an intent added after 8.8: take it as activatable, which is always safe.
      jobTypes.put(jobKey, type);
      jobReady(type, jobKey);
    }
  }

  private void jobReady(String type, long jobKey) {
    activatableJobs.computeIfAbsent(type, t -> new HashSet<>()).add(jobKey);
    lastJobReady.put(type, lastReadPosition);
    madeReady.add(type);
  }

  private void jobGone(String type, long jobKey) {
    Set<Long> activatable = activatableJobs.get(type);
    if (activatable != null) {
      activatable.remove(jobKey);
    }
  }

  /**
   * How many readers the engine's log stream holds. It keeps every reader made from it until
   * the stream closes (closing a reader does not let it go), so each reader made per request
   * stayed for good, each costing a copy of the list of all of them: this stays the same
   * while the engine serves.
   */
  private int logReaders() throws ReflectiveOperationException {
    return ((Collection<?>) readField(readField(engine, "logStream"), "readers")).size();
  }

  /** A reader of the engine's log, independent of the engine's own readers. */
  private LogStreamReader newLogReader() {
    try {
      return ((LogStream) readField(engine, "logStream")).newLogStreamReader();
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException("The engine's log cannot be read", e);
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    }
  }

  private void handle(HttpExchange exchange) throws IOException {
    String method = exchange.getRequestMethod();
    String[] path = exchange.getRequestURI().getPath().replaceAll("^/+|/+$", "").split("/");
    if (path.length > 1 && "v2".equals(path[0])) {
      // REST v2's paths, as a client configured with ".../v2" sends them.
      path = Arrays.copyOfRange(path, 1, path.length);
    }
    try {
      JsonNode body =
          exchange.getRequestBody().available() > 0 || "POST".equals(method) || "PATCH".equals(method)
              ? readBody(exchange)
              : JSON.createObjectNode();
      Object result = route(method, path, exchange.getRequestURI().getQuery(), body);
      if (result == null) {
        respond(exchange, 404, Map.of("title", "NOT_FOUND", "detail", String.join("/", path)));
      } else if (result == NO_CONTENT) {
        exchange.sendResponseHeaders(204, -1);
        exchange.close();
      } else {
        respond(exchange, 200, result);
      }
    } catch (Exception e) {
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      // As REST v2 answers a rejection: its code as the title, the engine's reason as the
      // detail (not "io.grpc.StatusRuntimeException: NOT_FOUND: ..."). Other failures keep
      // their class and message.
      Status status = Status.fromThrowable(cause);
      boolean rejection = status.getCode() != Status.Code.UNKNOWN && status.getDescription() != null;
      String title = rejection ? status.getCode().name() : cause.getClass().getSimpleName();
      String detail = rejection ? status.getDescription() : String.valueOf(cause.getMessage());
      respond(exchange, httpStatus(cause), Map.of("title", title, "detail", detail));
    }
  }

  /** The status REST v2 answers for the engine's rejection (409 for a duplicate message id, ...). */
  private static int httpStatus(Throwable cause) {
    // Status.fromThrowable finds the gRPC status anywhere in the cause chain (UNKNOWN if none).
    return switch (Status.fromThrowable(cause).getCode()) {
      case NOT_FOUND -> 404;
      case ALREADY_EXISTS, FAILED_PRECONDITION -> 409;
      case RESOURCE_EXHAUSTED, UNAVAILABLE -> 503;
      // The engine did not answer in time: it may still act on the command, so not a 4xx.
      case DEADLINE_EXCEEDED -> 504;
      case INTERNAL -> 500;
      default -> 400;
    };
  }

  /**
   * The Java heap: what the last garbage collection left in use, and the most it may grow to.
   *
   * <p>The heap holds the engine's state (and, without a state file, its whole log), so what a
   * collection leaves may grow; make run warns before it reaches the maximum (the engine then
   * exits).
   * Summed over the heap's pools as each stood after its last collection: the live data,
   * without the garbage the heap in use right now also holds.
   */
  private static Map<String, Long> heap() {
    long usedAfterGc = 0;
    for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
      MemoryUsage afterGc = pool.getType() == MemoryType.HEAP ? pool.getCollectionUsage() : null;
      if (afterGc != null) {
        usedAfterGc += afterGc.getUsed();
      }
    }
    return Map.of("usedAfterGcBytes", usedAfterGc, "maxBytes", Runtime.getRuntime().maxMemory());
  }

  private Object route(String method, String[] path, String query, JsonNode body) throws Exception {
    String first = path[0];
    if ("GET".equals(method) && "health".equals(first)) {
      return Map.of("status", "UP", "heap", heap(), "logReaders", logReaders());
    }
    if ("GET".equals(method) && "records".equals(first)) {
      Map<String, String> params = queryParameters(query);
      int limit = Math.min(RECORDS_PAGE_MAX, Integer.parseInt(params.getOrDefault("limit", "" + RECORDS_PAGE_MAX)));
      Set<RecordType> recordTypes = namesIn(params.get("recordType"), RecordType::valueOf);
      Set<ValueType> valueTypes = namesIn(params.get("valueType"), ValueType::valueOf);
      return records(Long.parseLong(params.getOrDefault("from", "0")), Math.max(1, limit), recordTypes, valueTypes);
    }
    if ("GET".equals(method) && "topology".equals(first)) {
      return topology();
    }
    if ("GET".equals(method) && "clock".equals(first)) {
      return Map.of("epochMilli", clock.getTimeMillis());
    }
    if ("POST".equals(method) && path.length == 2 && "clock".equals(first) && "add".equals(path[1])) {
      long offset = body.path("offsetMilli").asLong();
      engine.increaseTime(Duration.ofMillis(offset));
      if (durableLog != null) {
        durableLog.clockMoved(offset);
      }
      return Map.of();
    }
    if ("GET".equals(method) && path.length == 1 && "stream-processor".equals(first)) {
      return streamProcessorState();
    }
    if ("POST".equals(method) && path.length == 2 && "stream-processor".equals(first)) {
      // A fault for tests of the chaos run's engine watch: the engine stops (or goes on)
      // processing commands, while this port still answers reads.
      StreamProcessor processor = (StreamProcessor) readField(engine, "streamProcessor");
      if ("pause".equals(path[1])) {
        processor.pauseProcessing().join();
        return Map.of();
      }
      if ("resume".equals(path[1])) {
        processor.resumeProcessing();
        return Map.of();
      }
    }
    if ("POST".equals(method) && "deployments".equals(first)) {
      return deploy(body);
    }
    if ("POST".equals(method) && "process-instances".equals(first) && path.length == 1) {
      long key =
          client
              .newCreateInstanceCommand()
              .bpmnProcessId(body.path("processDefinitionId").asText())
              .latestVersion()
              .variables(JSON.writeValueAsString(body.path("variables")))
              .send()
              .join()
              .getProcessInstanceKey();
      return Map.of("processInstanceKey", String.valueOf(key));
    }
    if ("POST".equals(method) && "process-instances".equals(first) && path.length == 3
        && "modification".equals(path[2])) {
      return modify(Long.parseLong(path[1]), body);
    }
    if ("POST".equals(method) && "process-instances".equals(first) && path.length == 3) {
      client.newCancelInstanceCommand(Long.parseLong(path[1])).send().join();
      return Map.of();
    }
    if ("POST".equals(method) && "messages".equals(first)) {
      var command =
          client
              .newPublishMessageCommand()
              .messageName(body.path("name").asText())
              .correlationKey(body.path("correlationKey").asText(""))
              .timeToLive(Duration.ofMillis(body.path("timeToLive").asLong(0)))
              .variables(JSON.writeValueAsString(body.path("variables")));
      if (body.hasNonNull("messageId")) {
        command = command.messageId(body.path("messageId").asText());
      }
      return Map.of("messageKey", String.valueOf(command.send().join().getMessageKey()));
    }
    if ("POST".equals(method) && "user-tasks".equals(first) && path.length == 3) {
      completeUserTask(Long.parseLong(path[1]), body.path("variables"));
      return Map.of();
    }
    if ("PATCH".equals(method) && "jobs".equals(first) && path.length == 2) {
      int retries = body.path("changeset").path("retries").asInt();
      client.newUpdateRetriesCommand(Long.parseLong(path[1])).retries(retries).send().join();
      return Map.of();
    }
    if ("POST".equals(method) && "jobs".equals(first) && path.length == 2 && "activation".equals(path[1])) {
      return activateJobs(body);
    }
    if ("POST".equals(method) && "jobs".equals(first) && path.length == 3 && "completion".equals(path[2])) {
      var command = client.newCompleteCommand(Long.parseLong(path[1]));
      if (body.path("variables").isObject()) {
        command = command.variables(JSON.writeValueAsString(body.path("variables")));
      }
      command.send().join();
      return NO_CONTENT;
    }
    if ("POST".equals(method) && "jobs".equals(first) && path.length == 3 && "error".equals(path[2])) {
      var command =
          client
              .newThrowErrorCommand(Long.parseLong(path[1]))
              .errorCode(body.path("errorCode").asText())
              .errorMessage(body.path("errorMessage").asText(""));
      if (body.path("variables").isObject()) {
        command = command.variables(JSON.writeValueAsString(body.path("variables")));
      }
      command.send().join();
      return NO_CONTENT;
    }
    if ("POST".equals(method) && "jobs".equals(first) && path.length == 3 && "failure".equals(path[2])) {
      client
          .newFailCommand(Long.parseLong(path[1]))
          .retries(body.path("retries").asInt())
          .errorMessage(body.path("errorMessage").asText(""))
          .retryBackoff(Duration.ofMillis(body.path("retryBackOff").asLong(0)))
          .send()
          .join();
      return Map.of();
    }
    if ("POST".equals(method) && "incidents".equals(first) && path.length == 3) {
      client.newResolveIncidentCommand(Long.parseLong(path[1])).send().join();
      return Map.of();
    }
    return null;
  }

  /**
   * What the stream processor says of itself: its health report (an error-handling loop, a
   * blocked actor with the record it is stuck on, a failed phase) and its positions. This is
   * what tells a stalled engine apart from a slow one.
   */
  private Map<String, Object> streamProcessorState() throws ReflectiveOperationException {
    StreamProcessor processor = (StreamProcessor) readField(engine, "streamProcessor");
    HealthReport health = processor.getHealthReport();
    Map<String, Object> state = new LinkedHashMap<>();
    state.put("health", health.getStatus().name());
    state.put("issue", describe(health.getIssue()));
    state.put("lastProcessedPosition", position(processor.getLastProcessedPositionAsync()));
    state.put("lastWrittenPosition", position(processor.getLastWrittenPositionAsync()));
    return state;
  }

  private static String describe(HealthIssue issue) {
    if (issue == null) {
      return "";
    }
    if (issue.throwable() == null) {
      return String.valueOf(issue.message());
    }
    StringBuilder text = new StringBuilder(issue.throwable().toString());
    StackTraceElement[] frames = issue.throwable().getStackTrace();
    for (int i = 0; i < Math.min(8, frames.length); i++) {
      text.append("\n  at ").append(frames[i]);
    }
    return text.toString();
  }

  /** A position the processor's actor reports; a busy or blocked actor does not answer. */
  private static Object position(ActorFuture<Long> future) {
    try {
      return future.get(2, TimeUnit.SECONDS);
    } catch (Exception e) {
      return "no answer within 2 s: the processor's actor is busy or blocked";
    }
  }

  /** The gateway's topology in REST v2's shape (GET /v2/topology). */
  private Map<String, Object> topology() {
    Topology topology = client.newTopologyRequest().send().join();
    List<Map<String, Object>> brokers = new ArrayList<>();
    for (BrokerInfo broker : topology.getBrokers()) {
      List<Map<String, Object>> partitions = new ArrayList<>();
      for (PartitionInfo partition : broker.getPartitions()) {
        partitions.add(
            Map.of(
                "partitionId", partition.getPartitionId(),
                "role", partition.getRole().name().toLowerCase(),
                // The embedded gateway calls its partition healthy whatever happens; the
                // stream processor's own report says when it stopped or is stuck.
                "health", partitionHealth()));
      }
      brokers.add(
          Map.of(
              "nodeId", broker.getNodeId(),
              "host", broker.getHost(),
              "port", broker.getPort(),
              "version", broker.getVersion(),
              "partitions", partitions));
    }
    Map<String, Object> result = new LinkedHashMap<>();
    result.put("brokers", brokers);
    result.put("clusterSize", topology.getClusterSize());
    result.put("partitionsCount", topology.getPartitionsCount());
    result.put("replicationFactor", topology.getReplicationFactor());
    result.put("gatewayVersion", topology.getGatewayVersion());
    return result;
  }

  private String partitionHealth() {
    try {
      StreamProcessor processor = (StreamProcessor) readField(engine, "streamProcessor");
      return processor.getHealthReport().getStatus().name().toLowerCase();
    } catch (ReflectiveOperationException e) {
      return "unhealthy";
    }
  }

  private final Object recordsReading = new Object();
  private LogStreamReader recordsReader; // guarded by recordsReading

  /**
   * The records after log position ``after`` (0: from the first), at most ``limit``.
   *
   * <p>Read with a log reader of its own rather than the engine's record source: that one
   * builds an instance of every kind of record value for each record it copies, and keeps
   * every copy for the life of the engine (a quarter of the engine's CPU under load, and
   * memory that only grew). Positions count records from 1, so ``next`` is also the number
   * of records read so far.
   *
   * <p>With ``recordTypes`` or ``valueTypes`` (null: any), only the records of those types,
   * told by their metadata before their value is read: the webapp's read model wants the
   * events of six value types, under two thirds of the log's records and less of its bytes
   * (not the commands, nor job batches, which repeat every job's variables). ``next`` is the
   * last position read, whether its record was wanted or not.
   */
  private Map<String, Object> records(
      long after, int limit, Set<RecordType> recordTypes, Set<ValueType> valueTypes) throws IOException {
    List<JsonNode> out = new ArrayList<>();
    long next = after;
    boolean more;
    // One reader for every page, one page at a time: a reader per page stayed in the log
    // stream for good (see logReaders).
    synchronized (recordsReading) {
      if (recordsReader == null) {
        recordsReader = newLogReader();
      }
      LogStreamReader reader = recordsReader;
      if (after <= 0) {
        reader.seekToFirstEvent();
      } else {
        reader.seekToNextEvent(after);
      }
      while (out.size() < limit && reader.hasNext()) {
        LoggedEvent event = reader.next();
        next = event.getPosition();
        RecordMetadata metadata = new RecordMetadata();
        event.readMetadata(metadata);
        if ((recordTypes != null && !recordTypes.contains(metadata.getRecordType()))
            || (valueTypes != null && !valueTypes.contains(metadata.getValueType()))) {
          continue;
        }
        UnifiedRecordValue value = UnifiedRecordValue.fromValueType(metadata.getValueType());
        event.readValue(value);
        CopiedRecord<UnifiedRecordValue> record =
            new CopiedRecord<>(
                value,
                metadata,
                event.getKey(),
                PARTITION_ID,
                event.getPosition(),
                event.getSourceEventPosition(),
                event.getTimestamp());
        // The record's own JSON, as it is: parsing it only to write it again cost a third
        // of the time a page took.
        out.add(JSON.getNodeFactory().rawValueNode(new RawValue(record.toJson())));
      }
      more = reader.hasNext();
    }
    Map<String, Object> result = new LinkedHashMap<>();
    result.put("next", next);
    result.put("more", more);
    result.put("records", out);
    return result;
  }

  /** The enum constants named in a comma-separated list, or null (any) for no list. */
  private static <E> Set<E> namesIn(String list, Function<String, E> byName) {
    if (list == null || list.isBlank()) {
      return null;
    }
    Set<E> named = new HashSet<>();
    for (String name : list.split(",")) {
      named.add(byName.apply(name.trim()));
    }
    return named;
  }

  private static Map<String, String> queryParameters(String query) {
    Map<String, String> params = new LinkedHashMap<>();
    if (query != null) {
      for (String pair : query.split("&")) {
        String[] keyValue = pair.split("=", 2);
        params.put(keyValue[0], keyValue.length > 1 ? keyValue[1] : "");
      }
    }
    return params;
  }

  private Map<String, Object> deploy(JsonNode body) {
    DeployResourceCommandStep1 start = client.newDeployResourceCommand();
    DeployResourceCommandStep1.DeployResourceCommandStep2 command = null;
    for (JsonNode resource : body.path("resources")) {
      byte[] content = Base64.getDecoder().decode(resource.path("content").asText());
      String name = resource.path("name").asText();
      command = command == null ? start.addResourceBytes(content, name) : command.addResourceBytes(content, name);
    }
    if (command == null) {
      throw new IllegalArgumentException("No resources to deploy");
    }
    long key = command.send().join().getKey();
    return Map.of("deploymentKey", String.valueOf(key));
  }

  /**
   * REST v2's job activation. As on a cluster, a request is held while no job is ready:
   * for its {@code requestTimeout}, or the default long poll when it names none or 0; it
   * goes through the public gateway, which holds it. A negative {@code requestTimeout}
   * (hireflow's own probes) is answered at once. Each job carries REST v2's fields; this
   * client cannot tell a listener's job from an element's, so {@code kind} is always
   * BPMN_ELEMENT.
   */
  private Map<String, Object> activateJobs(JsonNode body) throws IOException {
    long requestTimeout = body.path("requestTimeout").asLong(0);
    var command =
        (requestTimeout >= 0 ? publicClient : client)
            .newActivateJobsCommand()
            .jobType(body.path("type").asText())
            .maxJobsToActivate(body.path("maxJobsToActivate").asInt(10))
            .timeout(Duration.ofMillis(body.path("timeout").asLong(60_000)))
            .workerName(body.path("worker").asText("hireflow"));
    if (body.path("fetchVariable").isArray()) {
      List<String> names = new ArrayList<>();
      body.path("fetchVariable").forEach(name -> names.add(name.asText()));
      command = command.fetchVariables(names);
    }
    var send =
        requestTimeout >= 0
            ? command.requestTimeout(Duration.ofMillis(requestTimeout > 0 ? requestTimeout : DEFAULT_LONG_POLL_MS))
            : command;
    List<Map<String, Object>> jobs = new ArrayList<>();
    for (ActivatedJob job : send.send().join().getJobs()) {
      Map<String, Object> activated = new LinkedHashMap<>();
      activated.put("jobKey", String.valueOf(job.getKey()));
      activated.put("type", job.getType());
      activated.put("processDefinitionId", job.getBpmnProcessId());
      activated.put("processDefinitionVersion", job.getProcessDefinitionVersion());
      activated.put("processDefinitionKey", String.valueOf(job.getProcessDefinitionKey()));
      activated.put("processInstanceKey", String.valueOf(job.getProcessInstanceKey()));
      activated.put("rootProcessInstanceKey", null);
      activated.put("elementId", job.getElementId());
      activated.put("elementInstanceKey", String.valueOf(job.getElementInstanceKey()));
      activated.put("customHeaders", job.getCustomHeaders());
      activated.put("worker", job.getWorker());
      activated.put("retries", job.getRetries());
      activated.put("deadline", job.getDeadline());
      activated.put("variables", JSON.readTree(job.getVariables()));
      // The embedded engine's jobs carry no tenant; a cluster's carry the default one.
      String tenant = job.getTenantId();
      activated.put("tenantId", tenant == null || tenant.isEmpty() ? DEFAULT_TENANT_ID : tenant);
      activated.put("physicalTenantId", DEFAULT_TENANT_ID);
      activated.put("kind", "BPMN_ELEMENT");
      activated.put("listenerEventType", "UNSPECIFIED");
      activated.put("userTask", null);
      activated.put("tags", List.of());
      activated.put("businessId", null);
      activated.put("priority", 0);
      jobs.add(activated);
    }
    return Map.of("jobs", jobs);
  }

  /**
   * REST v2's process instance modification, for the instructions hireflow sends: activate
   * elements by id (in the one active instance of their flow scope) and terminate element
   * instances by key. Zeebe applies the activations first, so the scope never runs empty.
   */
  private Object modify(long processInstanceKey, JsonNode body) {
    var command = client.newModifyProcessInstanceCommand(processInstanceKey);
    ModifyProcessInstanceCommandStep1.ModifyProcessInstanceCommandStep2 last = null;
    for (JsonNode activate : body.path("activateInstructions")) {
      last = (last == null ? command : last.and()).activateElement(activate.path("elementId").asText());
    }
    for (JsonNode terminate : body.path("terminateInstructions")) {
      last = (last == null ? command : last.and()).terminateElement(terminate.path("elementInstanceKey").asLong());
    }
    if (last == null) {
      throw new IllegalArgumentException("a modification needs at least one instruction");
    }
    last.send().join();
    return Map.of();
  }

  private void completeUserTask(long userTaskKey, JsonNode variables) throws ReflectiveOperationException, IOException {
    UserTaskRecord record = new UserTaskRecord().setUserTaskKey(userTaskKey).setAction("complete");
    if (variables != null && variables.isObject() && variables.size() > 0) {
      record.setVariables(new UnsafeBuffer(MsgPackConverter.convertToMsgPack(JSON.writeValueAsString(variables))));
    }
    RecordMetadata metadata =
        new RecordMetadata()
            .recordType(RecordType.COMMAND)
            .valueType(ValueType.USER_TASK)
            .intent(UserTaskIntent.COMPLETE);
    writeCommandWithKey.invoke(commandWriter, userTaskKey, record, metadata);
  }

  private static JsonNode readBody(HttpExchange exchange) throws IOException {
    byte[] bytes = exchange.getRequestBody().readAllBytes();
    return bytes.length == 0 ? JSON.createObjectNode() : JSON.readTree(bytes);
  }

  private static void respond(HttpExchange exchange, int status, Object body) throws IOException {
    byte[] bytes = JSON.writeValueAsString(body).getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().set("Content-Type", "application/json");
    exchange.sendResponseHeaders(status, bytes.length);
    try (OutputStream out = exchange.getResponseBody()) {
      out.write(bytes);
    }
  }
}
