//! What the script clients (`e2e/java/JavaClient.java`,
//! `e2e/python/kafka_python_client.py`) print, read back: one fact per line.
//!
//! ```text
//! delivered I PARTITION OFFSET                 record I of keyed_records(..) was acknowledged there
//! consumed PARTITION OFFSET TIMESTAMP KEY VALUE
//! fact NAME VALUE...
//! ```

use std::collections::HashMap;

use crate::kafka::{Consumed, Delivered};

/// The `consumed` lines of `output`.
pub fn consumed(output: &str) -> Vec<Consumed> {
    output
        .lines()
        .filter_map(|line| line.strip_prefix("consumed "))
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            assert_eq!(fields.len(), 5, "consumed line {line:?}");
            let number = |field: &str| {
                field
                    .parse::<i64>()
                    .unwrap_or_else(|_| panic!("not a number in consumed line {line:?}"))
            };
            Consumed {
                partition: i32::try_from(number(fields[0])).expect("partition fits i32"),
                offset: number(fields[1]),
                timestamp: Some(number(fields[2])),
                key: Some(fields[3].as_bytes().to_vec()),
                value: Some(fields[4].as_bytes().to_vec()),
            }
        })
        .collect()
}

/// The `delivered` lines of `output`, with the records of `records` they name.
pub fn delivered(output: &str, records: &[(Vec<u8>, Vec<u8>)]) -> Vec<Delivered> {
    output
        .lines()
        .filter_map(|line| line.strip_prefix("delivered "))
        .map(|line| {
            let fields: Vec<i64> = line
                .split(' ')
                .map(|f| {
                    f.parse()
                        .unwrap_or_else(|_| panic!("not a number in delivered line {line:?}"))
                })
                .collect();
            assert_eq!(fields.len(), 3, "delivered line {line:?}");
            let index = usize::try_from(fields[0]).expect("record index");
            let (key, value) = records[index].clone();
            Delivered {
                partition: i32::try_from(fields[1]).expect("partition fits i32"),
                offset: fields[2],
                key,
                value,
            }
        })
        .collect()
}

/// The `fact` lines of `output`: name to the rest of the line.
pub struct Facts<'a> {
    output: &'a str,
    facts: HashMap<&'a str, &'a str>,
}

impl<'a> Facts<'a> {
    pub fn parse(output: &'a str) -> Self {
        let facts = output
            .lines()
            .filter_map(|line| line.strip_prefix("fact "))
            .map(|line| line.split_once(' ').unwrap_or((line, "")))
            .collect();
        Self { output, facts }
    }

    /// The value of fact `name`; panics, showing the whole output, when absent.
    pub fn get(&self, name: &str) -> &'a str {
        self.facts
            .get(name)
            .unwrap_or_else(|| panic!("no fact {name} in:\n{}", self.output))
    }

    /// Checks that fact `name` is a refusal `{exception}:...` whose message
    /// contains `words`.
    pub fn assert_refused(&self, name: &str, exception: &str, words: &str) {
        let seen = self.get(name);
        assert!(
            seen.starts_with(&format!("{exception}:")) && seen.contains(words),
            "{name}: expected {exception} mentioning {words:?}, got {seen}"
        );
    }
}

/// Runs a script client's `roundtrip` command for every codec, 10,000
/// 100-byte keyed records over 8 partitions into topic `{prefix}-{codec}`, and
/// checks each transcript against `broker`: every record was acknowledged,
/// keys spread over every partition, the client read back exactly what it
/// wrote, so does librdkafka, and the broker stored the batches as sent —
/// compressed with the codec, from an idempotent producer.
pub fn assert_round_trips_every_codec(
    broker: &crate::BrokerProcess,
    prefix: &str,
    client: impl Fn(&[&str]) -> String,
) {
    const PARTITIONS: i32 = 8;
    const COUNT: usize = 10_000;
    const SIZE: usize = 100;
    let bootstrap = broker.bootstrap();
    for (codec_id, codec) in ["none", "gzip", "snappy", "lz4", "zstd"]
        .into_iter()
        .enumerate()
    {
        let output = client(&[
            "roundtrip",
            &bootstrap,
            codec,
            &COUNT.to_string(),
            &SIZE.to_string(),
        ]);
        let records = crate::kafka::keyed_records(codec, COUNT, SIZE);
        let topic = format!("{prefix}-{codec}");
        let delivered = delivered(&output, &records);
        assert_eq!(delivered.len(), COUNT, "{codec}: every record acknowledged");
        let partitions: std::collections::HashSet<i32> =
            delivered.iter().map(|d| d.partition).collect();
        assert_eq!(
            partitions.len(),
            PARTITIONS as usize,
            "{codec}: keys spread over every partition"
        );

        crate::kafka::assert_same_records(&delivered, &consumed(&output));
        let read = crate::kafka::consume_all(
            &bootstrap,
            &topic,
            PARTITIONS,
            COUNT,
            std::time::Duration::from_secs(120),
        )
        .expect("librdkafka reads the topic back");
        crate::kafka::assert_same_records(&delivered, &read);

        let segment = broker
            .data_dir
            .join(format!("{topic}-0"))
            .join("00000000000000000000.log");
        let batch = std::fs::read(&segment).expect("partition 0's first segment");
        let attributes = crate::wire::i16_at(&batch, 21);
        assert_eq!(
            usize::try_from(attributes & 0x7).expect("3 bits"),
            codec_id,
            "{codec}: compression bits of the first batch"
        );
        let producer_id = i64::from_be_bytes(batch[43..51].try_into().expect("8 bytes"));
        assert!(
            producer_id >= 0,
            "{codec}: the producer is idempotent (producer id {producer_id})"
        );
    }
}
