//! Real-client helpers over librdkafka (the `rdkafka` crate): an admin client,
//! topic creation, producing with delivery reports and consuming everything
//! back with its partition and offset.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// One consumed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub timestamp: Option<i64>,
}

/// One acknowledged record: where the broker said it put it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

pub fn admin(bootstrap: &str) -> anyhow::Result<AdminClient<DefaultClientContext>> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?)
}

/// Creates a topic; fails with the broker's error if it refuses.
pub async fn create_topic(
    bootstrap: &str,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> anyhow::Result<()> {
    let admin = admin(bootstrap)?;
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (key, value) in configs {
        topic = topic.set(key, value);
    }
    let results = admin.create_topics([&topic], &AdminOptions::new()).await?;
    for result in results {
        if let Err((topic, code)) = result {
            bail!("creating {topic}: {code:?}");
        }
    }
    Ok(())
}

/// A producer with the given extra settings (acks=all and idempotence on by
/// default, as current Kafka clients do).
pub fn producer(bootstrap: &str, settings: &[(&str, &str)]) -> anyhow::Result<FutureProducer> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "60000");
    for (key, value) in settings {
        config.set(*key, *value);
    }
    Ok(config.create()?)
}

/// Produces `records` (key, value) to `topic`, keeping up to `window` in
/// flight, and returns each delivery in send order.
pub async fn produce_all(
    producer: &FutureProducer,
    topic: &str,
    records: &[(Vec<u8>, Vec<u8>)],
    window: usize,
) -> anyhow::Result<Vec<Delivered>> {
    let mut pending = std::collections::VecDeque::new();
    let mut delivered = Vec::with_capacity(records.len());
    for (index, (key, value)) in records.iter().enumerate() {
        let future = producer.send_result(FutureRecord::to(topic).key(key).payload(value));
        let future = future.map_err(|(error, _)| anyhow::anyhow!("enqueue failed: {error}"))?;
        pending.push_back((index, future));
        while pending.len() >= window {
            let (index, future) = pending.pop_front().expect("non-empty");
            delivered.push(settle(records, index, future.await)?);
        }
    }
    while let Some((index, future)) = pending.pop_front() {
        delivered.push(settle(records, index, future.await)?);
    }
    Ok(delivered)
}

fn settle<E>(
    records: &[(Vec<u8>, Vec<u8>)],
    index: usize,
    outcome: Result<rdkafka::producer::future_producer::OwnedDeliveryResult, E>,
) -> anyhow::Result<Delivered> {
    let delivery = outcome
        .map_err(|_| anyhow::anyhow!("delivery of record {index} was cancelled"))?
        .map_err(|(error, _)| anyhow::anyhow!("delivery of record {index} failed: {error}"))?;
    let (key, value) = records[index].clone();
    Ok(Delivered {
        partition: delivery.partition,
        offset: delivery.offset,
        key,
        value,
    })
}

/// Reads every partition of `topic` from the beginning until `expected`
/// records arrived (or `timeout`), returning them in arrival order.
pub fn consume_all(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<Consumed>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "fjord-e2e-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let deadline = Instant::now() + timeout;
    let mut records = Vec::with_capacity(expected);
    while records.len() < expected {
        if Instant::now() > deadline {
            bail!(
                "consumed {} of {expected} records from {topic} before the deadline",
                records.len()
            );
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.with_context(|| format!("consuming {topic}"))?;
        records.push(Consumed {
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().map(<[u8]>::to_vec),
            timestamp: message.timestamp().to_millis(),
        });
    }
    Ok(records)
}

/// Checks that `consumed` holds exactly the `delivered` records, each at the
/// partition and offset it was acknowledged at, byte for byte, in offset
/// order within each partition.
pub fn assert_same_records(delivered: &[Delivered], consumed: &[Consumed]) {
    assert_eq!(consumed.len(), delivered.len(), "record count");
    let mut by_position: HashMap<(i32, i64), &Delivered> = HashMap::new();
    for record in delivered {
        assert!(
            by_position
                .insert((record.partition, record.offset), record)
                .is_none(),
            "two records acknowledged at partition {} offset {}",
            record.partition,
            record.offset
        );
    }
    let mut last_offset: HashMap<i32, i64> = HashMap::new();
    for record in consumed {
        let sent = by_position
            .get(&(record.partition, record.offset))
            .unwrap_or_else(|| {
                panic!(
                    "consumed a record never acknowledged at {}/{}",
                    record.partition, record.offset
                )
            });
        assert_eq!(
            record.key.as_deref(),
            Some(&sent.key[..]),
            "key at {}/{}",
            record.partition,
            record.offset
        );
        assert_eq!(
            record.value.as_deref(),
            Some(&sent.value[..]),
            "value at {}/{}",
            record.partition,
            record.offset
        );
        if let Some(previous) = last_offset.insert(record.partition, record.offset) {
            assert!(
                record.offset > previous,
                "partition {} went back from {previous} to {}",
                record.partition,
                record.offset
            );
        }
    }
}

/// `count` keyed records of about `size` bytes, distinguishable by `tag`.
pub fn keyed_records(tag: &str, count: usize, size: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..count)
        .map(|i| {
            let key = format!("key-{}", i % 997).into_bytes();
            let mut value = format!("{tag}-{i:08}-").into_bytes();
            // Compressible but not constant: a repeating pattern seeded by i.
            while value.len() < size {
                value.push(b'a' + ((i + value.len()) % 26) as u8);
            }
            (key, value)
        })
        .collect()
}
