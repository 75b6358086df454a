//! Apache Kafka for tests, and an independent consumer.
//!
//! Three sources of brokers, in this order:
//! - `HORIZON_TEST_KAFKA_BROKERS=host:port,…`: your own cluster; every test
//!   uses it (the tests that must stop a broker are skipped).
//! - `HORIZON_TEST_KAFKA_SHARED=host:port`: a broker `scripts/test.sh`
//!   started for the whole run; tests that leave the broker alone share it,
//!   each on topics of its own.
//! - otherwise, and for every test that stops or kills a broker: a broker of
//!   the test's own, a JVM started by `scripts/kafka.sh serve` (Apache Kafka
//!   from Maven Central, fetched into `.tools/` by `scripts/kafka.sh
//!   install`), in KRaft mode on free loopback ports.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers as _, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::Value;
use tempfile::TempDir;

/// One broker process of a cluster this test owns.
struct Node {
    id: u32,
    port: u16,
    controller_port: u16,
    dir: PathBuf,
    process: Option<Child>,
}

pub struct Broker {
    pub brokers: String,
    nodes: Vec<Node>,
    voters: String,
    cluster_id: String,
    _data: Option<TempDir>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn external(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

fn kafka_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/kafka.sh")
}

impl Broker {
    /// A broker for a test that leaves it running: the run's shared one
    /// when there is one, else a broker of the test's own.
    pub async fn start() -> Broker {
        if let Some(brokers) =
            external("HORIZON_TEST_KAFKA_BROKERS").or_else(|| external("HORIZON_TEST_KAFKA_SHARED"))
        {
            return Broker::elsewhere(brokers);
        }
        Broker::own(1).await
    }

    /// A cluster of `count` brokers of this test's own (it may stop and
    /// kill them); your own cluster with `HORIZON_TEST_KAFKA_BROKERS`.
    pub async fn own(count: u32) -> Broker {
        if let Some(brokers) = external("HORIZON_TEST_KAFKA_BROKERS") {
            return Broker::elsewhere(brokers);
        }
        let data = tempfile::tempdir().unwrap();
        let nodes: Vec<Node> = (1..=count)
            .map(|id| Node {
                id,
                port: free_port(),
                controller_port: free_port(),
                dir: data.path().join(format!("node-{id}")),
                process: None,
            })
            .collect();
        let voters = nodes
            .iter()
            .map(|n| format!("{}@127.0.0.1:{}", n.id, n.controller_port))
            .collect::<Vec<_>>()
            .join(",");
        let brokers = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",");
        let mut broker = Broker {
            brokers,
            nodes,
            voters,
            cluster_id: cluster_id(),
            _data: Some(data),
        };
        for i in 0..broker.nodes.len() {
            broker.spawn(i);
        }
        for i in 0..broker.nodes.len() {
            broker.wait_listening(i).await;
        }
        broker
    }

    /// Brokers this test does not own.
    fn elsewhere(brokers: String) -> Broker {
        Broker {
            brokers,
            nodes: Vec::new(),
            voters: String::new(),
            cluster_id: String::new(),
            _data: None,
        }
    }

    /// Whether this test run owns the broker (and may stop it).
    pub fn can_restart(&self) -> bool {
        !self.nodes.is_empty()
    }

    /// The node ids of an owned cluster (1, 2, 3, …).
    pub fn node_ids(&self) -> Vec<u32> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    fn spawn(&mut self, i: usize) {
        let node = &self.nodes[i];
        std::fs::create_dir_all(&node.dir).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir.join("broker.log"))
            .unwrap();
        let child = Command::new("bash")
            .arg(kafka_script())
            .arg("serve")
            .arg(&node.dir)
            .arg(node.id.to_string())
            .arg(node.port.to_string())
            .arg(node.controller_port.to_string())
            .arg(&self.voters)
            .arg(&self.cluster_id)
            .env("KAFKA_HEAP_OPTS", "-Xms64m -Xmx384m")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start Apache Kafka with scripts/kafka.sh: {e}"));
        self.nodes[i].process = Some(child);
    }

    async fn wait_listening(&mut self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(90);
        let port = self.nodes[i].port;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(child) = self.nodes[i].process.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "Kafka broker {} exited ({status}) before listening:\n{}",
                    self.nodes[i].id,
                    self.log(self.nodes[i].id)
                );
            }
            assert!(
                Instant::now() < deadline,
                "Kafka broker {} did not start:\n{}",
                self.nodes[i].id,
                self.log(self.nodes[i].id)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Start every stopped node again, on the same data and ports.
    pub async fn start_again(&mut self) {
        assert!(
            self.can_restart(),
            "an external cluster cannot be restarted"
        );
        for i in 0..self.nodes.len() {
            if self.nodes[i].process.is_none() {
                self.spawn(i);
                self.wait_listening(i).await;
                // a node that listened and then exited (seen once in CI:
                // the relay met refused connections until the test gave
                // up) is started once more, its log kept for the reader
                tokio::time::sleep(Duration::from_secs(2)).await;
                if let Some(child) = self.nodes[i].process.as_mut()
                    && let Ok(Some(status)) = child.try_wait()
                {
                    eprintln!(
                        "Kafka broker {} exited ({status}) after a restart; starting it again:\n{}",
                        self.nodes[i].id,
                        self.log(self.nodes[i].id)
                    );
                    self.nodes[i].process = None;
                    self.spawn(i);
                    self.wait_listening(i).await;
                }
            }
        }
    }

    /// Stop every node (SIGTERM: a controlled shutdown) and wait until gone.
    pub fn stop(&mut self) {
        for id in self.node_ids() {
            self.stop_node(id, nix::sys::signal::Signal::SIGTERM);
        }
    }

    /// Kill every node with SIGKILL (the JVM dies at once, nothing flushed).
    pub fn kill(&mut self) {
        for id in self.node_ids() {
            self.stop_node(id, nix::sys::signal::Signal::SIGKILL);
        }
    }

    /// Stop one node of the cluster with `signal` and wait until it is gone.
    pub fn stop_node(&mut self, id: u32, signal: nix::sys::signal::Signal) {
        let Some(node) = self.nodes.iter_mut().find(|n| n.id == id) else {
            return;
        };
        if let Some(mut child) = node.process.take() {
            let group = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::killpg(group, signal);
            let deadline = Instant::now() + Duration::from_secs(60);
            while nix::sys::signal::killpg(group, None).is_ok() && Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_)))
                    && signal == nix::sys::signal::Signal::SIGKILL
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
        }
    }

    /// Start one stopped node again.
    pub async fn start_node(&mut self, id: u32) {
        let i = self.nodes.iter().position(|n| n.id == id).unwrap();
        if self.nodes[i].process.is_none() {
            self.spawn(i);
            self.wait_listening(i).await;
        }
    }

    /// The log of one node (for failure messages).
    /// The end of every node's log, for a failure's message.
    pub fn logs_tail(&self) -> String {
        self.nodes
            .iter()
            .map(|n| {
                let log = self.log(n.id);
                let tail: String = log
                    .chars()
                    .rev()
                    .take(3000)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                format!("--- broker {} ---\n{tail}", n.id)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn log(&self, id: u32) -> String {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .and_then(|n| std::fs::read_to_string(n.dir.join("broker.log")).ok())
            .unwrap_or_default()
    }
}

/// A KRaft cluster id: 16 random bytes in URL-safe base64 without padding,
/// never starting with '-' (the storage tool would take it for an option).
fn cluster_id() -> String {
    loop {
        let id = any_cluster_id();
        if !id.starts_with('-') {
            return id;
        }
    }
}

fn any_cluster_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = uuid::Uuid::now_v7().into_bytes();
    let mut bits: u32 = 0;
    let mut count = 0;
    let mut out = String::new();
    for b in bytes {
        bits = (bits << 8) | u32::from(b);
        count += 8;
        while count >= 6 {
            count -= 6;
            out.push(ALPHABET[((bits >> count) & 63) as usize] as char);
        }
    }
    if count > 0 {
        out.push(ALPHABET[((bits << (6 - count)) & 63) as usize] as char);
    }
    out
}

impl Drop for Broker {
    fn drop(&mut self) {
        for id in self.node_ids() {
            self.stop_node(id, nix::sys::signal::Signal::SIGKILL);
        }
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

/// The partition count, waiting (up to a minute) for the topic to exist:
/// a test may start reading before Horizon created its topics.
fn fetch_partitions(brokers: &str, topic: &str) -> i32 {
    let consumer = consumer(brokers);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .unwrap();
        let n = metadata.topics()[0].partitions().len() as i32;
        if n > 0 {
            return n;
        }
        assert!(Instant::now() < deadline, "topic {topic} never appeared");
        std::thread::sleep(Duration::from_millis(100));
    }
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
    // (asking for the partitions blocks: not on the test's runtime thread)
    let (b, names) = (
        brokers.to_owned(),
        topics.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
    );
    let chosen = tokio::task::spawn_blocking(move || {
        let mut chosen = Vec::new();
        for topic in names {
            for partition in 0..partitions(&b, &topic) {
                chosen.push((topic.clone(), partition));
            }
        }
        chosen
    })
    .await
    .unwrap();
    consume_partitions(brokers, chosen, timeout, done).await
}

/// Like `consume`, from the given partitions only.
pub async fn consume_partitions(
    brokers: &str,
    chosen: Vec<(String, i32)>,
    timeout: Duration,
    done: impl Fn(&[Record]) -> bool + Send + 'static,
) -> Vec<Record> {
    let brokers = brokers.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer = consumer(&brokers);
        let mut assignment = TopicPartitionList::new();
        for (topic, partition) in &chosen {
            assignment
                .add_partition_offset(topic, *partition, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&assignment).unwrap();
        let deadline = Instant::now() + timeout;
        let mut records = Vec::new();
        while Instant::now() < deadline && !done(&records) {
            let Some(message) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let message = match message {
                Ok(message) => message,
                // a stopped broker of the cluster: the client says so and
                // goes on with the others
                Err(e)
                    if matches!(
                        e.rdkafka_error_code(),
                        Some(
                            rdkafka::types::RDKafkaErrorCode::BrokerTransportFailure
                                | rdkafka::types::RDKafkaErrorCode::AllBrokersDown
                        )
                    ) =>
                {
                    continue;
                }
                Err(e) => panic!("consuming: {e}"),
            };
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

/// Each partition's leader (a node id; -1: none) of a topic.
pub fn leaders(brokers: &str, topic: &str) -> BTreeMap<i32, i32> {
    let metadata = consumer(brokers)
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| (p.id(), p.leader())))
        .collect()
}

/// The partition the Java client's default partitioner picks for `key`.
pub fn java_partition(key: &str, partitions: i32) -> i32 {
    horizon_kafka::partition_for(key.as_bytes(), partitions)
}
