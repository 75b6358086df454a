// A kafkajs consumer, as a Node.js service reading Horizon's topics would
// be: read_committed (kafkajs's default), from the beginning, in a consumer
// group of its own. Prints one JSON line per record, and stops once COUNT
// records came and no more arrived for GRACE_MS (so duplicates would show),
// or after TIMEOUT_MS.
//   node consume.mjs BROKERS TOPIC[,TOPIC…] COUNT TIMEOUT_MS [GRACE_MS]
import kafkajs from "kafkajs";

const { Kafka, logLevel } = kafkajs;
const [brokers, topics, count, timeoutMs, graceMs = "2000"] = process.argv.slice(2);
const kafka = new Kafka({
  clientId: "horizon-test-kafkajs",
  brokers: brokers.split(","),
  logLevel: logLevel.NOTHING,
});
const consumer = kafka.consumer({
  groupId: `horizon-test-kafkajs-${process.pid}-${Date.now()}`,
  readUncommitted: false,
});
await consumer.connect();
await consumer.subscribe({ topics: topics.split(","), fromBeginning: true });
let n = 0;
let last = Date.now();
await consumer.run({
  eachMessage: async ({ topic, partition, message }) => {
    const headers = {};
    for (const [k, v] of Object.entries(message.headers ?? {})) {
      headers[k] = v === undefined || v === null ? null : v.toString();
    }
    process.stdout.write(
      JSON.stringify({
        topic,
        partition,
        offset: Number(message.offset),
        key: message.key ? message.key.toString() : null,
        value: message.value ? message.value.toString() : null,
        headers,
      }) + "\n",
    );
    n += 1;
    last = Date.now();
  },
});
const started = Date.now();
while (Date.now() - started < Number(timeoutMs)) {
  if (n >= Number(count) && Date.now() - last >= Number(graceMs)) break;
  await new Promise((resolve) => setTimeout(resolve, 100));
}
await consumer.disconnect();
