//! Three `fjord-broker` processes form one metadata quorum over gRPC: admin writes sent to any
//! broker are committed through the leader and seen by all; killing the leader elects another
//! and writes go on; a restarted broker catches up; an observer joins. Misconfigured brokers
//! (another cluster id, a duplicate node id, voter lists that disagree, no --cluster-id,
//! unreachable voters) stay out and say why, never join silently or hang.
//!
//! Partitions are not yet assigned to brokers (every broker hosts every partition): these
//! tests are about the metadata quorum only.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use fjord_e2e::cluster::Cluster;
use fjord_e2e::kafka::admin;
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer as _};

const WAIT: Duration = Duration::from_secs(60);

async fn create(bootstrap: &str, name: &str, partitions: i32) {
    let admin = admin(bootstrap).unwrap();
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.create_topics([&topic], &options).await.unwrap() {
        result.unwrap_or_else(|(topic, code)| panic!("creating {topic}: {code:?}"));
    }
}

/// The topics (with partition counts) that the broker at `addr` alone reports.
fn topics_at(addr: &str) -> BTreeSet<(String, usize)> {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", addr)
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .unwrap();
    metadata
        .topics()
        .iter()
        .filter(|topic| !topic.name().starts_with("__"))
        .map(|topic| (topic.name().to_owned(), topic.partitions().len()))
        .collect()
}

fn wait_for_topics(cluster: &Cluster, id: u32, expected: &BTreeSet<(String, usize)>) {
    let addr = cluster.node(id).kafka.to_string();
    let deadline = Instant::now() + WAIT;
    loop {
        let seen = topics_at(&addr);
        if &seen == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "broker {id} reports {seen:?}, not {expected:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn topics(list: &[(&str, usize)]) -> BTreeSet<(String, usize)> {
    list.iter().map(|(n, p)| ((*n).to_owned(), *p)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn three_brokers_share_one_metadata_log_through_the_loss_of_its_leader() {
    let mut cluster = Cluster::start(3, 0, &[]).unwrap();
    let leader = cluster.wait_for_leader(1, None, WAIT).unwrap();
    for id in [2, 3] {
        assert_eq!(cluster.wait_for_leader(id, None, WAIT).unwrap(), leader);
    }
    let quorum = fjord_e2e::wire::describe_quorum(&cluster.node(1).kafka.to_string()).unwrap();
    let partition = &quorum.topics[0].partitions[0];
    let voters: BTreeSet<i32> = partition
        .current_voters
        .iter()
        .map(|v| v.replica_id.0)
        .collect();
    assert_eq!(voters, [1, 2, 3].into());
    assert!(partition.observers.is_empty());
    assert!(partition.high_watermark > 0);

    // An admin write sent to a broker that does not lead is forwarded and seen by all.
    let follower = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    create(&cluster.node(follower).kafka.to_string(), "orders", 3).await;
    let expected = topics(&[("orders", 3)]);
    for id in [1, 2, 3] {
        wait_for_topics(&cluster, id, &expected);
    }

    // The leader dies: the other two elect one of themselves and take writes.
    cluster.kill9(leader).unwrap();
    let survivor = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    let lost = Instant::now();
    let elected = cluster
        .wait_for_leader(survivor, Some(leader), WAIT)
        .unwrap();
    println!(
        "metadata quorum: leader {leader} killed, {elected} elected after {:?}",
        lost.elapsed()
    );
    assert_ne!(elected, leader);
    create(&cluster.bootstrap(), "payments", 2).await;
    let expected = topics(&[("orders", 3), ("payments", 2)]);
    for id in cluster.running() {
        wait_for_topics(&cluster, id, &expected);
    }

    // The killed broker comes back and catches up.
    cluster.start_node(leader).unwrap();
    cluster.wait_ready(WAIT).unwrap();
    wait_for_topics(&cluster, leader, &expected);
    assert_eq!(
        cluster.wait_for_leader(leader, None, WAIT).unwrap(),
        elected
    );

    // The Java client's admin reads the quorum as Kafka's tools do.
    let out = fjord_e2e::java_client(&["quorum", &cluster.bootstrap()]).unwrap();
    assert!(out.contains(&format!("fact leader {elected} ")), "{out}");
    for id in [1, 2, 3] {
        assert!(out.contains(&format!("fact voter {id} ")), "{out}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_observer_joins_the_quorum_and_forwards_its_writes() {
    let cluster = Cluster::start(3, 1, &[]).unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let quorum = fjord_e2e::wire::describe_quorum(&cluster.node(4).kafka.to_string()).unwrap();
        let partition = &quorum.topics[0].partitions[0];
        let observers: Vec<i32> = partition.observers.iter().map(|o| o.replica_id.0).collect();
        if observers == [4] {
            assert_eq!(partition.current_voters.len(), 3);
            break;
        }
        assert!(Instant::now() < deadline, "observers: {observers:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    create(&cluster.node(4).kafka.to_string(), "observed", 1).await;
    for id in [1, 2, 3, 4] {
        wait_for_topics(&cluster, id, &topics(&[("observed", 1)]));
    }
}

#[test]
fn misconfigured_brokers_stay_out_and_say_why() {
    let mut cluster = Cluster::start(3, 2, &[]).unwrap();
    cluster.stop(4).unwrap();
    cluster.stop(5).unwrap();

    // A broker of another cluster (its own cluster id, the same voters) is refused by every
    // voter and never ready.
    let mut args = cluster.args(4);
    let at = args.iter().position(|a| a == "--cluster-id").unwrap();
    args[at + 1] = "another-cluster".into();
    std::fs::remove_dir_all(cluster.node(4).dir.path()).unwrap();
    cluster
        .start_node_with(4, &args.iter().map(String::as_str).collect::<Vec<_>>())
        .unwrap();
    cluster.wait_for_log(4, "belongs to cluster", WAIT).unwrap();
    let (status, body) = cluster.readyz(4).unwrap();
    assert_eq!(
        (status, body.trim()),
        (503, "not ready: no metadata quorum leader")
    );
    cluster.kill9(4).unwrap();

    // A second broker with node id 2 (on another RPC port than the voters give node 2) does
    // not start.
    let binary = fjord_e2e::broker_binary().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut duplicate = cluster.args(2);
    let at = duplicate.iter().position(|a| a == "--rpc-listen").unwrap();
    duplicate[at + 1] = "127.0.0.1:0".into();
    let out = Command::new(&binary)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .args(&duplicate)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("the ports must match"), "{stderr}");

    // Joining a cluster with an empty data directory needs the cluster id.
    let mut anonymous = cluster.args(5);
    let at = anonymous.iter().position(|a| a == "--cluster-id").unwrap();
    anonymous.drain(at..at + 2);
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(&binary)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .args(&anonymous)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("give it --cluster-id"), "{stderr}");
}

#[test]
fn a_new_cluster_forms_only_from_voters_that_agree_and_a_lone_voter_waits() {
    // Voter 3 is given a fourth voter the others do not know of: they form without it, and
    // it refuses their calls while its log is empty, saying why.
    let mut cluster = Cluster::new(3, 0, &[]).unwrap();
    cluster.start_node(1).unwrap();
    // One voter of three alone has no quorum: it stays not ready, and says so.
    std::thread::sleep(Duration::from_secs(2));
    let (status, body) = cluster.readyz(1).unwrap();
    assert_eq!(
        (status, body.trim()),
        (503, "not ready: no metadata quorum leader")
    );
    cluster
        .wait_for_log(1, "no metadata quorum leader yet", Duration::from_secs(30))
        .unwrap();
    cluster.start_node(2).unwrap();
    cluster.wait_ready(WAIT).unwrap();
    let mut args = cluster.args(3);
    let at = args.iter().position(|a| a == "--voters").unwrap();
    args[at + 1] = format!("{},4@127.0.0.1:1", cluster.voters);
    cluster
        .start_node_with(3, &args.iter().map(String::as_str).collect::<Vec<_>>())
        .unwrap();
    cluster
        .wait_for_log(3, "controller.quorum.voters must be the same", WAIT)
        .unwrap();
    let (status, _) = cluster.readyz(3).unwrap();
    assert_eq!(status, 503);
    let leader = cluster.wait_for_leader(1, None, WAIT).unwrap();
    assert!([1, 2].contains(&leader));
}

/// Leader and replicas of each partition of `topic`, as the broker at `addr` reports them.
fn placement_at(addr: &str, topic: &str) -> Vec<(i32, Vec<i32>)> {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", addr)
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let mut partitions: Vec<(i32, i32, Vec<i32>)> = metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| (p.id(), p.leader(), p.replicas().to_vec()))
        .collect();
    partitions.sort();
    partitions.into_iter().map(|(_, l, r)| (l, r)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn partitions_are_spread_over_the_brokers_and_clients_follow_their_leaders() {
    use fjord_e2e::kafka::{
        assert_same_records, consume_all, keyed_records, produce_all, producer,
    };
    let cluster = Cluster::start(3, 0, &[]).unwrap();
    let first = cluster.node(1).kafka.to_string();
    create(&first, "spread", 6).await;
    for id in [1, 2, 3] {
        wait_for_topics(&cluster, id, &topics(&[("spread", 6)]));
    }
    let placement = placement_at(&first, "spread");
    let mut leaders: Vec<i32> = placement.iter().map(|(leader, _)| *leader).collect();
    leaders.sort_unstable();
    assert_eq!(leaders, [1, 1, 2, 2, 3, 3], "{placement:?}");
    assert!(placement.iter().all(|(l, r)| r == &[*l]), "{placement:?}");
    for id in [2, 3] {
        assert_eq!(
            placement_at(&cluster.node(id).kafka.to_string(), "spread"),
            placement
        );
    }

    // librdkafka sends each partition's records to its leader and reads them back there.
    let records = keyed_records("spread", 600, 40);
    let delivered = produce_all(&producer(&first, &[]).unwrap(), "spread", &records, 100)
        .await
        .unwrap();
    let partitions: BTreeSet<i32> = delivered.iter().map(|d| d.partition).collect();
    assert_eq!(partitions.len(), 6);
    let second = cluster.node(2).kafka.to_string();
    let consumed = consume_all(&second, "spread", 6, 600, WAIT).unwrap();
    assert_same_records(&delivered, &consumed);

    // A consumer group finds its coordinator (the leader of its __consumer_offsets
    // partition, on any broker), reads everything and commits; another broker serves the
    // committed offsets back.
    let group: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &second)
        .set("group.id", "spread-readers")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    group.subscribe(&["spread"]).unwrap();
    let deadline = Instant::now() + WAIT;
    let mut read = 0;
    while read < 600 {
        assert!(Instant::now() < deadline, "the group read {read} of 600");
        if let Some(message) = group.poll(Duration::from_millis(200)) {
            message.unwrap();
            read += 1;
        }
    }
    group
        .commit_consumer_state(rdkafka::consumer::CommitMode::Sync)
        .unwrap();
    let mut ends = std::collections::BTreeMap::new();
    for record in &delivered {
        let end = ends.entry(record.partition).or_insert(0);
        *end = (*end).max(record.offset + 1);
    }
    let spread = fjord_e2e::group_checks::GroupTopic {
        name: "spread",
        partitions: 6,
    };
    let third = cluster.node(3).kafka.to_string();
    assert_eq!(spread.committed(&third, "spread-readers").unwrap(), ends);

    // A replication factor of three places three distinct replicas per partition; four is
    // more than there are brokers.
    let admin = admin(&first).unwrap();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let replicated = NewTopic::new("replicated", 3, TopicReplication::Fixed(3));
    let too_many = NewTopic::new("too-many", 1, TopicReplication::Fixed(4));
    let results = admin
        .create_topics([&replicated, &too_many], &options)
        .await
        .unwrap();
    assert!(results[0].is_ok(), "{results:?}");
    match &results[1] {
        Err((_, code)) => assert_eq!(
            *code,
            rdkafka::types::RDKafkaErrorCode::InvalidReplicationFactor
        ),
        ok => panic!("{ok:?}"),
    }
    for (leader, replicas) in placement_at(&first, "replicated") {
        let distinct: BTreeSet<i32> = replicas.iter().copied().collect();
        assert_eq!(distinct.len(), 3, "{replicas:?}");
        assert_eq!(replicas[0], leader);
    }
}

/// The voter and observer ids DescribeQuorum reports at `addr`.
fn quorum_members(addr: &str) -> (BTreeSet<i32>, BTreeSet<i32>) {
    let quorum = fjord_e2e::wire::describe_quorum(addr).unwrap();
    let partition = &quorum.topics[0].partitions[0];
    (
        partition
            .current_voters
            .iter()
            .map(|v| v.replica_id.0)
            .collect(),
        partition.observers.iter().map(|o| o.replica_id.0).collect(),
    )
}

fn wait_for_members(addr: &str, voters: &[i32], observers: &[i32]) {
    let wanted = (
        voters.iter().copied().collect::<BTreeSet<_>>(),
        observers.iter().copied().collect::<BTreeSet<_>>(),
    );
    let deadline = Instant::now() + WAIT;
    loop {
        let members = quorum_members(addr);
        if members == wanted {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "members {members:?}, not {wanted:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_single_broker_with_data_grows_into_three_voters_and_keeps_its_data() {
    use fjord_e2e::kafka::{
        assert_same_records, consume_all, keyed_records, produce_all, producer,
    };
    // Broker 1 runs alone (no voters configured) and takes records.
    let mut cluster = Cluster::new(3, 0, &[]).unwrap();
    let rpc1 = cluster.node(1).rpc.to_string();
    let alone = [
        "--node-id",
        "1",
        "--cluster-id",
        &cluster.cluster_id.clone(),
        "--rpc-listen",
        &rpc1,
    ]
    .map(str::to_owned);
    cluster
        .start_node_with(1, &alone.iter().map(String::as_str).collect::<Vec<_>>())
        .unwrap();
    cluster.wait_ready(WAIT).unwrap();
    let first = cluster.node(1).kafka.to_string();
    create(&first, "kept", 3).await;
    let records = keyed_records("kept", 300, 30);
    let delivered = produce_all(&producer(&first, &[]).unwrap(), "kept", &records, 100)
        .await
        .unwrap();

    // Brokers 2 and 3 know only broker 1 as a voter: they join as observers.
    for id in [2, 3] {
        let mut args = cluster.args(id);
        let at = args.iter().position(|a| a == "--voters").unwrap();
        args[at + 1] = format!("1@{rpc1}");
        cluster
            .start_node_with(id, &args.iter().map(String::as_str).collect::<Vec<_>>())
            .unwrap();
    }
    cluster.wait_ready(WAIT).unwrap();
    wait_for_members(&first, &[1], &[2, 3]);

    // Kafka's admin API makes them voters, one at a time, and refuses what makes no sense.
    let changes = [
        format!("add:2:127.0.0.1:{}", cluster.node(2).rpc.port()),
        format!("add:3:127.0.0.1:{}", cluster.node(3).rpc.port()),
        format!("add:3:127.0.0.1:{}", cluster.node(3).rpc.port()),
        "remove:9".to_owned(),
    ];
    let mut args = vec!["voters".to_owned(), first.clone()];
    args.extend(changes.iter().cloned());
    let out = fjord_e2e::java_client(&args.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
    assert!(
        out.contains(&format!("fact voter-change {} none", changes[0])),
        "{out}"
    );
    assert!(
        out.contains(&format!("fact voter-change {} none", changes[1])),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "fact voter-change {} DuplicateVoterException",
            changes[2]
        )),
        "{out}"
    );
    assert!(
        out.contains("fact voter-change remove:9 VoterNotFoundException"),
        "{out}"
    );
    wait_for_members(&first, &[1, 2, 3], &[]);

    // Broker 1 dies: the two others are a majority, elect one of themselves and take writes.
    cluster.kill9(1).unwrap();
    let elected = cluster.wait_for_leader(2, Some(1), WAIT).unwrap();
    assert!([2, 3].contains(&elected));
    create(&cluster.node(2).kafka.to_string(), "after", 1).await;
    // Broker 1 comes back (its log knows the voters now) with every record it held.
    cluster
        .start_node_with(1, &alone.iter().map(String::as_str).collect::<Vec<_>>())
        .unwrap();
    cluster.wait_ready(WAIT).unwrap();
    wait_for_topics(&cluster, 1, &topics(&[("after", 1), ("kept", 3)]));
    let consumed = consume_all(&cluster.bootstrap(), "kept", 3, 300, WAIT).unwrap();
    assert_same_records(&delivered, &consumed);

    // A voter leaves the quorum and stays as an observer.
    let out = fjord_e2e::java_client(&["voters", &first, "remove:3"]).unwrap();
    assert!(out.contains("fact voter-change remove:3 none"), "{out}");
    wait_for_members(&first, &[1, 2], &[3]);
}
