//! Exactly once: starting a transactional producer (fencing older ones of
//! its id, reading the position and held partitions back, catching the
//! marks up) and moving to the next generation's transactional id when the
//! one in use is stuck.

use std::time::Duration;

use rdkafka::producer::Producer;
use tokio::sync::watch;
use tracing::{info, warn};

use super::batches::Leading;
use super::held::Held;
use super::partitions::Partitions;
use super::position::read_position;
use super::transactional::{TxError, tx_error};
use super::{Relay, RelayProducer, SharedLeadership, stop_requested};

impl Relay {
    /// Move the transactional id to the next generation, under the
    /// leadership (recorded with it, so that the next leader fences it).
    /// `None`: this process no longer leads, or was asked to stop.
    pub(super) async fn next_generation(
        &self,
        leadership: &SharedLeadership,
        reason: &str,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<i64> {
        let mut failures = 0;
        loop {
            if *stop.borrow() {
                return None;
            }
            let next = leadership.lock().await.next_generation().await;
            match next {
                Ok(Some(next)) => {
                    warn!(
                        "the relay's transactional id is stuck behind a transaction that cannot end \
                         before a broker returns ({reason}): moving on to transactional id {}",
                        self.settings.transactional_id_of(next)
                    );
                    return Some(next);
                }
                Ok(None) => {
                    warn!("cannot move to a new transactional id: this process no longer leads");
                    return None;
                }
                Err(err) => {
                    failures += 1;
                    let delay = self.backoff(failures);
                    warn!("cannot record a new transactional id, retrying in {delay:?}: {err}");
                    self.failed(&err.to_string());
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        () = stop_requested(stop) => return None,
                    }
                }
            }
        }
    }

    /// A producer with its transactions initialised (fencing every older
    /// producer of the id), the position and held partitions read back,
    /// the marks caught up, and the parked keys loaded.
    pub(super) async fn start_transactional(
        &self,
        generation: i64,
        leadership: &SharedLeadership,
        before: Option<&Held>,
    ) -> Result<(RelayProducer, Leading), TxError> {
        let producer = self
            .producer(generation)
            .map_err(|e| TxError::Passing(format!("cannot create the producer: {e}")))?;
        let timeout = Duration::from_millis(self.settings.message_timeout_ms.max(10_000));
        let init = producer.clone();
        tokio::task::spawn_blocking(move || init.init_transactions(timeout))
            .await
            .map_err(|e| TxError::Passing(e.to_string()))?
            .map_err(|e| tx_error(&producer, &e))?;
        // a process that lost the leadership while it started (frozen, say)
        // must not go on with an id the next leader may not know of
        if !leadership.lock().await.still_held().await {
            return Err(TxError::Fatal(
                "the relay's leadership was lost while the producer started".into(),
            ));
        }
        let settings = self.settings.clone();
        let record = tokio::task::spawn_blocking(move || read_position(&settings))
            .await
            .map_err(|e| TxError::Passing(e.to_string()))?
            .map_err(|e| TxError::Passing(format!("cannot read the relay's position: {e}")))?;
        let database =
            self.store.database_id().await.map_err(|e| {
                TxError::Passing(format!("cannot read the database's identity: {e}"))
            })?;
        if let Some(theirs) = record.as_ref().and_then(|r| r.database.as_deref())
            && theirs != database
        {
            // (resuming from it would mark this database's events published
            // up to another database's position, without sending them)
            return Err(TxError::Passing(format!(
                "the relay position in Kafka (topic {}, key {}) was committed for another \
                 database ({theirs}; this one is {database}): two deployments share the \
                 transactional id. Give this one its own [kafka] transactional_id; nothing is \
                 sent meanwhile",
                self.settings.position_topic, self.settings.transactional_id
            )));
        }
        let mut partitions = Partitions::default();
        let (cursor, mut held) = match &record {
            Some(record) => (record.position, Held::from_records(&record.held)),
            None => (0, Held::default()),
        };
        if let Some(before) = before {
            held.keep_uncommitted(before, cursor);
        }
        for (topic, count) in held.counts() {
            partitions.freeze(topic, count);
        }
        // which partition each event goes to must be known while
        // partitions are held (else a held job's event could go ahead)
        for _ in 0..25 {
            partitions.refresh(&producer, &self.settings).await;
            if held.topics().iter().all(|t| partitions.knows(t)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if let Some(topic) = held.topics().into_iter().find(|t| !partitions.knows(t)) {
            return Err(TxError::Passing(format!(
                "cannot read the metadata of topic {topic}, whose partitions are held back"
            )));
        }
        match &record {
            Some(record) => {
                let caught_up = self
                    .catch_up_marks(record.position, &held, &partitions)
                    .await
                    .map_err(|e| TxError::Passing(e.to_string()))?;
                info!(
                    position = record.position,
                    "resuming after position {} committed to Kafka at {} ({caught_up} mark(s) caught up{})",
                    record.position,
                    record.committed_at,
                    if held.is_empty() {
                        String::new()
                    } else {
                        format!("; held back: {}", held.describe().join(", "))
                    }
                );
            }
            None => info!("no relay position in Kafka yet: starting from the store's marks"),
        }
        self.status.update(|s| {
            s.position = record.as_ref().map(|r| r.position);
            s.held_partitions = held.describe();
            metrics::gauge!(crate::metric_names::HELD_PARTITIONS)
                .set(s.held_partitions.len() as f64);
            s.transactional_id = Some(self.settings.transactional_id_of(generation));
        });
        let parked_keys = self
            .load_parked_keys()
            .await
            .map_err(|e| TxError::Passing(e.to_string()))?;
        Ok((
            producer,
            Leading {
                database,
                cursor,
                parked_keys,
                held,
                partitions,
            },
        ))
    }
}
