// The Java client (org.apache.kafka:kafka-clients), as a JVM service reading
// Horizon's topics would: isolation.level=read_committed, from the
// beginning, in a consumer group of its own. Prints one JSON line per
// record, and stops once COUNT records came and no more arrived for
// GRACE_MS (so duplicates would show), or after TIMEOUT_MS.
//   java -cp 'KAFKA_LIBS/*:.' Consume BROKERS TOPIC[,TOPIC…] COUNT TIMEOUT_MS [GRACE_MS]
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.StringDeserializer;

public final class Consume {
  public static void main(String[] args) throws Exception {
    String brokers = args[0];
    String[] topics = args[1].split(",");
    long count = Long.parseLong(args[2]);
    long timeoutMs = Long.parseLong(args[3]);
    long graceMs = args.length > 4 ? Long.parseLong(args[4]) : 2000;
    Properties props = new Properties();
    props.put("bootstrap.servers", brokers);
    props.put("group.id", "horizon-test-java-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
    props.put("isolation.level", "read_committed");
    props.put("auto.offset.reset", "earliest");
    props.put("enable.auto.commit", "false");
    ObjectMapper json = new ObjectMapper();
    try (KafkaConsumer<String, String> consumer =
        new KafkaConsumer<>(props, new StringDeserializer(), new StringDeserializer())) {
      consumer.subscribe(Arrays.asList(topics));
      long started = System.currentTimeMillis();
      long last = started;
      long n = 0;
      while (System.currentTimeMillis() - started < timeoutMs) {
        if (n >= count && System.currentTimeMillis() - last >= graceMs) {
          break;
        }
        for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(100))) {
          Map<String, Object> line = new LinkedHashMap<>();
          line.put("topic", record.topic());
          line.put("partition", record.partition());
          line.put("offset", record.offset());
          line.put("key", record.key());
          line.put("value", record.value());
          Map<String, String> headers = new LinkedHashMap<>();
          for (Header header : record.headers()) {
            headers.put(
                header.key(),
                header.value() == null ? null : new String(header.value(), StandardCharsets.UTF_8));
          }
          line.put("headers", headers);
          System.out.println(json.writeValueAsString(line));
          n += 1;
          last = System.currentTimeMillis();
        }
      }
    }
  }
}
