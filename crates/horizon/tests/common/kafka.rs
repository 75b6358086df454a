//! A Kafka-protocol broker for tests, and an independent consumer.
//!
//! With `HORIZON_TEST_KAFKA_BROKERS=host:port,…` the tests use that cluster
//! (tests that must stop the broker are skipped). Otherwise each test starts
//! its own broker from `HORIZON_TEST_KAFKA_BIN` (default `noida-db` on PATH;
//! `scripts/test.sh` installs it) on a free port.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers as _, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::Value;
use tempfile::TempDir;

pub struct Broker {
    pub brokers: String,
    process: Option<Child>,
    data: Option<TempDir>,
    port: u16,
}

impl Broker {
    pub async fn start() -> Broker {
        if let Ok(brokers) = std::env::var("HORIZON_TEST_KAFKA_BROKERS")
            && !brokers.is_empty()
        {
            return Broker {
                brokers,
                process: None,
                data: None,
                port: 0,
            };
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut broker = Broker {
            brokers: format!("127.0.0.1:{port}"),
            process: None,
            data: Some(tempfile::tempdir().unwrap()),
            port,
        };
        broker.start_again().await;
        broker
    }

    /// Whether this test run owns the broker (and may stop it).
    pub fn can_restart(&self) -> bool {
        self.data.is_some()
    }

    pub async fn start_again(&mut self) {
        let data = self
            .data
            .as_ref()
            .expect("an external cluster cannot be restarted")
            .path();
        let bin = std::env::var("HORIZON_TEST_KAFKA_BIN").unwrap_or_else(|_| "noida-db".into());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data.join("broker.log"))
            .unwrap();
        let child = Command::new(&bin)
            .args([
                "start",
                "--only",
                "kafka",
                "--host",
                "127.0.0.1",
                "--kafka-port",
            ])
            .arg(self.port.to_string())
            .arg("--data-dir")
            .arg(data.join("data"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start the test Kafka broker {bin:?}: {e}. Run ./scripts/test.sh, \
                     or set HORIZON_TEST_KAFKA_BIN or HORIZON_TEST_KAFKA_BROKERS"
                )
            });
        self.process = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "broker did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stop the broker (its whole process group) and wait until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.process.take() {
            let group = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGTERM);
            let _ = child.wait();
            let deadline = Instant::now() + Duration::from_secs(10);
            while nix::sys::signal::killpg(group, None).is_ok() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One consumed record.
#[derive(Debug, Clone)]
pub struct Record {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub raw: String,
    pub value: Value,
    pub headers: BTreeMap<String, String>,
}

/// The partition count of a topic (asked once per broker and topic).
pub fn partitions(brokers: &str, topic: &str) -> i32 {
    static KNOWN: std::sync::Mutex<BTreeMap<(String, String), i32>> =
        std::sync::Mutex::new(BTreeMap::new());
    let key = (brokers.to_owned(), topic.to_owned());
    if let Some(n) = KNOWN.lock().unwrap().get(&key) {
        return *n;
    }
    let n = fetch_partitions(brokers, topic);
    KNOWN.lock().unwrap().insert(key, n);
    n
}

fn fetch_partitions(brokers: &str, topic: &str) -> i32 {
    let consumer = consumer(brokers);
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    metadata.topics()[0].partitions().len() as i32
}

fn consumer(brokers: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("horizon-test-{}", uuid::Uuid::now_v7()))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap()
}

/// Read every partition of `topics` from the beginning until `done` holds for
/// what was read (or the timeout passes), with a client of its own.
pub async fn consume(
    brokers: &str,
    topics: &[&str],
    timeout: Duration,
    done: impl Fn(&[Record]) -> bool + Send + 'static,
) -> Vec<Record> {
    let brokers = brokers.to_owned();
    let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let consumer = consumer(&brokers);
        let mut assignment = TopicPartitionList::new();
        for topic in &topics {
            for partition in 0..partitions(&brokers, topic) {
                assignment
                    .add_partition_offset(topic, partition, Offset::Beginning)
                    .unwrap();
            }
        }
        consumer.assign(&assignment).unwrap();
        let deadline = Instant::now() + timeout;
        let mut records = Vec::new();
        while Instant::now() < deadline && !done(&records) {
            let Some(message) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let message = message.unwrap();
            let raw = String::from_utf8(message.payload().unwrap().to_vec()).unwrap();
            let mut headers = BTreeMap::new();
            if let Some(h) = message.headers() {
                for header in h.iter() {
                    let value = header
                        .value
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                        .unwrap_or_default();
                    headers.insert(header.key.to_owned(), value);
                }
            }
            records.push(Record {
                topic: message.topic().to_owned(),
                partition: message.partition(),
                offset: message.offset(),
                key: String::from_utf8(message.key().unwrap().to_vec()).unwrap(),
                value: serde_json::from_str(&raw).unwrap(),
                raw,
                headers,
            });
        }
        records
    })
    .await
    .unwrap()
}

/// Kafka's murmur2 (the Java client's `Utils.murmur2`), written here
/// independently of librdkafka.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = SEED ^ (len as u32);
    for chunk in data.chunks_exact(4) {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = &data[len - len % 4..];
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition the Java client's default partitioner picks for `key`.
pub fn java_partition(key: &str, partitions: i32) -> i32 {
    (murmur2(key.as_bytes()) & 0x7fff_ffff) % partitions
}
