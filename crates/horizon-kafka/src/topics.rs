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
    create_topics(settings, &admin).await
}

/// `ensure_topics` with the admin client's own reports going to `context`
/// (the relay's: an unreachable broker shows on `/readyz` at once).
pub(crate) async fn ensure_topics_with<C: rdkafka::client::ClientContext + 'static>(
    settings: &KafkaSettings,
    context: C,
) -> Result<(), KafkaError> {
    let admin: AdminClient<C> = settings.admin_config().create_with_context(context)?;
    create_topics(settings, &admin).await
}

async fn create_topics<C: rdkafka::client::ClientContext + 'static>(
    settings: &KafkaSettings,
    admin: &AdminClient<C>,
) -> Result<(), KafkaError> {
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
    // (a broker that cannot be reached fails the attempt within seconds,
    // not after the client's default minute)
    let options = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(10)))
        .request_timeout(Some(Duration::from_secs(5)));
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
