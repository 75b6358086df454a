//! Creating the topics at start-up when they are missing.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use tracing::info;

use crate::{KafkaError, KafkaSettings};

/// Create the lifecycle, metrics, audit and dead-letter topics (and the
/// relay's position topic) unless they exist.
pub async fn ensure_topics(settings: &KafkaSettings) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = settings.admin_config().create()?;
    let mut topics = vec![
        NewTopic::new(
            &settings.lifecycle_topic,
            settings.lifecycle_partitions,
            TopicReplication::Fixed(settings.replication_factor),
        ),
        NewTopic::new(
            &settings.metrics_topic,
            settings.metrics_partitions,
            TopicReplication::Fixed(settings.replication_factor),
        ),
        NewTopic::new(
            &settings.audit_topic,
            settings.audit_partitions,
            TopicReplication::Fixed(settings.replication_factor),
        ),
    ];
    if !settings.dead_letter_topic.is_empty() {
        topics.push(NewTopic::new(
            &settings.dead_letter_topic,
            settings.lifecycle_partitions,
            TopicReplication::Fixed(settings.replication_factor),
        ));
    }
    if settings.exactly_once {
        // one partition: the relay reads back the last record of its key
        topics.push(
            NewTopic::new(
                &settings.position_topic,
                1,
                TopicReplication::Fixed(settings.replication_factor),
            )
            .set("cleanup.policy", "compact"),
        );
    }
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&topics, &options).await? {
        match result {
            Ok(topic) => info!(topic, "created Kafka topic {topic}"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(KafkaError::Topic {
                    topic,
                    reason: code.to_string(),
                });
            }
        }
    }
    Ok(())
}
