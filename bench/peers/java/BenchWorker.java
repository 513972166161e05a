/*
 * The reference client: a minimal job worker on Camunda's Java client (io.camunda:camunda-client-java
 * from Maven Central), as its documentation writes one, with job streaming on.
 *
 * Usage: java -cp 'lib/*' BenchWorker.java GRPC_ADDRESS JOB_TYPE
 */

import io.camunda.client.CamundaClient;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;

public class BenchWorker {
  public static void main(String[] args) throws Exception {
    String address = args[0];
    String jobType = args[1];
    try (CamundaClient client =
        CamundaClient.newClientBuilder()
            .grpcAddress(URI.create("http://" + address))
            .restAddress(URI.create("http://127.0.0.1:1"))
            .preferRestOverGrpc(false)
            .build()) {
      client
          .newWorker()
          .jobType(jobType)
          .handler((jobClient, job) -> jobClient.newCompleteCommand(job.getKey()).send())
          .timeout(Duration.ofSeconds(30))
          .streamEnabled(true)
          .open();
      System.out.println("worker ready");
      new CountDownLatch(1).await();
    }
  }
}
