//! The `fjord-broker` binary as a user runs it: started with free ports, asked
//! for metadata by real clients (kcat on Debian's librdkafka 2.0, and a recent
//! librdkafka through the `rdkafka` crate), probed on its admin port, fed
//! hostile frames, and stopped with SIGTERM.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use fjord_e2e::{BrokerProcess, run_tool, tool};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};

fn kcat_metadata(broker: &BrokerProcess) -> serde_json::Value {
    let kcat = tool("FJORD_KCAT", "kcat").unwrap();
    let out = run_tool(
        Command::new(kcat).args(["-b", &broker.bootstrap(), "-L", "-J", "-m", "10"]),
        Duration::from_secs(30),
    )
    .unwrap();
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("kcat -L -J printed {out:?}: {e}"))
}

#[test]
fn kcat_lists_the_broker_under_its_advertised_address() {
    let broker = BrokerProcess::start(&[]).unwrap();
    let metadata = kcat_metadata(&broker);
    let brokers = metadata["brokers"].as_array().unwrap();
    assert_eq!(brokers.len(), 1, "{metadata}");
    assert_eq!(brokers[0]["id"], 0);
    assert_eq!(brokers[0]["name"], broker.kafka.to_string());
    assert_eq!(metadata["controllerid"], 0);
}

#[test]
fn a_recent_librdkafka_reads_the_cluster_metadata() {
    let broker = BrokerProcess::start(&["--node-id", "7", "--rack", "zone-a"]).unwrap();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "metadata-probe")
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(30))
        .unwrap();
    let brokers = metadata.brokers();
    assert_eq!(brokers.len(), 1);
    assert_eq!(brokers[0].id(), 7);
    assert_eq!(brokers[0].host(), "127.0.0.1");
    assert_eq!(i32::from(broker.kafka.port()), brokers[0].port());
}

#[test]
fn the_admin_port_reports_liveness_readiness_and_metrics() {
    let broker = BrokerProcess::start(&[]).unwrap();
    assert_eq!(broker.admin_get("/livez").unwrap().0, 200);
    assert_eq!(broker.admin_get("/readyz").unwrap().0, 200);
    kcat_metadata(&broker);
    let (status, body) = broker.admin_get("/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(
        body.contains(r#"fjord_broker_requests_total{api="Metadata",error="NONE"}"#),
        "{body}"
    );
    assert_eq!(broker.admin_get("/nope").unwrap().0, 404);
}

#[test]
fn sigterm_stops_the_broker_cleanly() {
    let mut broker = BrokerProcess::start(&[]).unwrap();
    kcat_metadata(&broker);
    let status = broker.stop().unwrap();
    assert!(status.success(), "exit status {status}");
}

/// Sends raw bytes, then reads until the broker closes the connection.
/// Returns what it answered.
fn send_raw(broker: &BrokerProcess, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(broker.kafka).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(bytes).unwrap();
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

fn frame(api_key: i16, version: i16, correlation_id: i32, body: &[u8]) -> Vec<u8> {
    let mut payload = Vec::new();
    payload.extend_from_slice(&api_key.to_be_bytes());
    payload.extend_from_slice(&version.to_be_bytes());
    payload.extend_from_slice(&correlation_id.to_be_bytes());
    payload.extend_from_slice(body);
    let mut out = (payload.len() as i32).to_be_bytes().to_vec();
    out.extend(payload);
    out
}

#[test]
fn hostile_frames_close_their_connection_and_leave_the_broker_serving() {
    let mut broker = BrokerProcess::start(&[]).unwrap();
    let mut hostile_metadata = vec![0xff, 0xff]; // null client id
    hostile_metadata.extend_from_slice(&i32::MAX.to_be_bytes()); // 2^31-1 topics
    let mut hostile_produce = vec![0xff, 0xff]; // client id
    hostile_produce.extend_from_slice(&[0xff, 0xff]); // null transactional id
    hostile_produce.extend_from_slice(&(-1i16).to_be_bytes()); // acks
    hostile_produce.extend_from_slice(&30_000i32.to_be_bytes()); // timeout
    hostile_produce.extend_from_slice(&i32::MAX.to_be_bytes()); // 2^31-1 topics
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("a frame shorter than its size prefix", vec![0, 0]),
        ("a negative frame size", (-5i32).to_be_bytes().to_vec()),
        (
            "a frame over socket.request.max.bytes",
            (200 * 1024 * 1024i32).to_be_bytes().to_vec(),
        ),
        (
            "a frame shorter than a request header",
            vec![0, 0, 0, 3, 0, 18, 0],
        ),
        ("an unknown API key", frame(31_000, 0, 1, &[0xff, 0xff])),
        ("a truncated Metadata body", frame(3, 1, 2, &[0xff])),
        (
            "Metadata claiming 2^31 topics",
            frame(3, 1, 3, &hostile_metadata),
        ),
        (
            "Produce v7 claiming 2^31 topics",
            frame(0, 7, 4, &hostile_produce),
        ),
        (
            "Produce at an unsupported version",
            frame(0, 1, 5, &hostile_produce),
        ),
    ];
    for (what, bytes) in cases {
        let answer = send_raw(&broker, &bytes);
        assert!(
            answer.is_empty(),
            "{what}: expected the connection to close unanswered, got {answer:?}"
        );
        assert!(broker.is_running(), "{what}: the broker died");
    }
    // Every other client is unaffected.
    assert_eq!(
        kcat_metadata(&broker)["brokers"].as_array().unwrap().len(),
        1
    );
}

#[test]
fn an_api_versions_request_above_our_range_gets_the_kip_511_answer() {
    let broker = BrokerProcess::start(&[]).unwrap();
    // ApiVersions v99 with a flexible header: client id, empty tagged fields.
    let mut body = vec![0, 4];
    body.extend_from_slice(b"test");
    body.push(0);
    let answer = send_raw(&broker, &frame(18, 99, 1234, &body));
    assert!(answer.len() > 14, "{answer:?}");
    let size = i32::from_be_bytes(answer[0..4].try_into().unwrap()) as usize;
    assert_eq!(size + 4, answer.len());
    assert_eq!(
        i32::from_be_bytes(answer[4..8].try_into().unwrap()),
        1234,
        "correlation id"
    );
    // v0 body: error code 35 (UNSUPPORTED_VERSION), then the ranges.
    assert_eq!(i16::from_be_bytes(answer[8..10].try_into().unwrap()), 35);
    let count = i32::from_be_bytes(answer[10..14].try_into().unwrap());
    assert!(count >= 2);
    let first_key = i16::from_be_bytes(answer[14..16].try_into().unwrap());
    assert!(first_key >= 0);
}
