"""kafka-python (a pure-Python Kafka client, unmodified) against a broker.

    python e2e/python/kafka_python_client.py roundtrip 127.0.0.1:9092 zstd 10000 100

The same commands and output as e2e/java/JavaClient.java: each does real
client work and prints what it saw, one fact per line, for
e2e/tests/python_client.rs to check; it judges nothing itself. A client
exception ends the command with its class and message on stderr, status 1.

  roundtrip BOOTSTRAP CODEC COUNT SIZE   create topic python-CODEC (8 partitions),
      produce COUNT keyed records with CODEC, read the topic back:
        delivered I PARTITION OFFSET
        consumed PARTITION OFFSET TIMESTAMP KEY VALUE
  admin BOOTSTRAP   topics, configs, partitions, offsets, records:
        fact NAME VALUE...
  group BOOTSTRAP TOPIC GROUP COUNT SECONDS   subscribe as a member of GROUP, read until
      COUNT records arrived or SECONDS passed, commit, then print:
        consumed PARTITION OFFSET
        committed PARTITION OFFSET   (for each partition it was assigned)
  member BOOTSTRAP TOPIC GROUP SESSION_MS SECONDS   one long-lived member of GROUP, as
      e2e/src/members.rs drives it: prints each assignment change and each record as it
      happens, commits after every batch it processed, and stops on SIGTERM, on stdin
      closing, or after SECONDS:
        assigned P,P,...   (the whole current assignment; empty after a revocation)
        record PARTITION OFFSET
        stopped   (after leaving the group)
"""

import faulthandler
import logging
import os
import select
import signal
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
from kafka.errors import KafkaError

DEADLINE_S = 60
PARTITIONS = 8


def key(i):
    """The records of e2e's `keyed_records(tag, count, size)`, byte for byte."""
    return f"key-{i % 997}"


def value(tag, i, size):
    out = f"{tag}-{i:08d}-"
    while len(out) < size:
        out += chr(ord("a") + (i + len(out)) % 26)
    return out


def roundtrip(bootstrap, codec, count, size):
    topic = f"python-{codec}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    admin.close()
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        compression_type=None if codec == "none" else codec,
        batch_size=65536,
        linger_ms=5,
    )
    futures = [
        producer.send(topic, key=key(i).encode(), value=value(codec, i, size).encode())
        for i in range(count)
    ]
    producer.flush(timeout=DEADLINE_S)
    lines = []
    for i, future in enumerate(futures):
        metadata = future.get(timeout=DEADLINE_S)
        lines.append(f"delivered {i} {metadata.partition} {metadata.offset}")
    producer.close()
    print("\n".join(lines))
    consume(bootstrap, topic, PARTITIONS, count)


def consume(bootstrap, topic, partitions, count):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    assignment = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(assignment)
    consumer.seek_to_beginning(*assignment)
    lines = []
    deadline = time.monotonic() + DEADLINE_S
    while len(lines) < count and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=200).values():
            for r in records:
                lines.append(
                    f"consumed {r.partition} {r.offset} {r.timestamp} {r.key.decode()} {r.value.decode()}"
                )
    consumer.close()
    print("\n".join(lines))
    if len(lines) < count:
        raise RuntimeError(f"consumed {len(lines)} of {count} records from {topic}")


def subscribe_known(consumer, topic, listener=None):
    """Subscribes with the topic's partitions known before joining: a leader that assigns
    without them rejoins once they arrive, and kafka-python 3.0.12 loses the result of that
    rejoin when it outlasts one poll() (the member then hangs, without heartbeats, until its
    session ends)."""
    consumer.partitions_for_topic(topic)
    if listener is None:
        consumer.subscribe([topic])
    else:
        consumer.subscribe([topic], listener=listener)


def group(bootstrap, topic, group_id, count, seconds):
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    subscribe_known(consumer, topic)
    lines = []
    seen = 0
    deadline = time.monotonic() + seconds
    while seen < count and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=200).values():
            for r in records:
                lines.append(f"consumed {r.partition} {r.offset}")
                seen += 1
    consumer.commit()
    for tp in sorted(consumer.assignment(), key=lambda tp: tp.partition):
        committed = consumer.committed(tp)
        if committed is not None:
            lines.append(f"committed {tp.partition} {committed}")
    consumer.close()
    print("\n".join(lines))


def say(line):
    print(line, flush=True)


def diagnostics_to_stderr():
    """The client's own log on stderr, from WARNING up or at the level FJORD_CLIENT_LOG names
    (debug shows every request and response); SIGUSR1 dumps every thread's stack there."""
    level = os.environ.get("FJORD_CLIENT_LOG", "warning").upper()
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    faulthandler.register(signal.SIGUSR1)


class StopRequest:
    """Set by SIGTERM or by stdin closing: the member's ways to be told to stop."""

    def __init__(self):
        self.signalled = False
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "signalled", True))

    def is_set(self):
        if self.signalled:
            return True
        stdin = sys.stdin.fileno()
        if select.select([stdin], [], [], 0)[0] and not os.read(stdin, 4096):
            self.signalled = True
        return self.signalled


class PrintAssignment(ConsumerRebalanceListener):
    def __init__(self, consumer):
        self.consumer = consumer

    def print_assignment(self, partitions):
        say("assigned " + ",".join(str(p) for p in sorted(tp.partition for tp in partitions)))

    def on_partitions_revoked(self, revoked):
        self.print_assignment(set(self.consumer.assignment()) - set(revoked))

    def on_partitions_assigned(self, assigned):
        self.print_assignment(self.consumer.assignment())


def member(bootstrap, topic, group_id, session_ms, seconds):
    diagnostics_to_stderr()
    stop = StopRequest()
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=session_ms,
        heartbeat_interval_ms=min(500, session_ms // 3),
    )
    subscribe_known(consumer, topic, PrintAssignment(consumer))
    deadline = time.monotonic() + seconds
    while not stop.is_set() and time.monotonic() < deadline:
        batches = consumer.poll(timeout_ms=200)
        for records in batches.values():
            for r in records:
                say(f"record {r.partition} {r.offset}")
        if batches:
            try:
                consumer.commit()
            except KafkaError as error:
                # A rebalance took the partitions away: their new owner reads them again.
                print(f"commit failed: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
    consumer.close()
    say("stopped")


def fact(name, *values):
    print("fact", name, *values)


def refusal(action):
    """`Class:message` of the error `action` raised or returned, or `none`."""
    try:
        result = action()
    except KafkaError as error:
        return f"{type(error).__name__}:{error}".replace(" ", "_")
    # alter_configs answers {type: {name: "[Error N] Name: message"}} for a refusal.
    for by_name in (result or {}).values() if isinstance(result, dict) else ():
        for outcome in by_name.values():
            if isinstance(outcome, str) and outcome.startswith("[Error"):
                name, message = outcome.split("] ", 1)[1].split(": ", 1)
                return f"{name}:{message}".replace(" ", "_")
    return "none"


def admin(bootstrap):
    topic = "python-admin"
    client = KafkaAdminClient(bootstrap_servers=bootstrap)
    cluster = client.describe_cluster()
    fact("cluster.id", cluster["cluster_id"])
    fact("cluster.nodes", len(cluster["brokers"]))

    client.create_topics([NewTopic(topic, 3, 1, topic_configs={"retention.ms": "3600000"})])
    fact("listed", topic in client.list_topics())
    fact("create.twice", refusal(lambda: client.create_topics([NewTopic(topic, 1, 1)])))
    fact("create.bad_name", refusal(lambda: client.create_topics([NewTopic("bad/name", 1, 1)])))

    described = client.describe_topics([topic])[0]
    fact("describe.partitions", len(described["partitions"]))

    resource = ConfigResource(ConfigResourceType.TOPIC, topic)
    configs = client.describe_configs([resource], config_filter="all")["topic"][topic]
    for name in ("retention.ms", "cleanup.policy", "max.message.bytes"):
        fact("config." + name, configs[name]["value"], configs[name]["config_source"])
    client.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": "7200000"})])
    configs = client.describe_configs([resource], config_filter="all")["topic"][topic]
    fact("altered.retention.ms", configs["retention.ms"]["value"], configs["retention.ms"]["config_source"])
    fact(
        "alter.bad_value",
        refusal(
            lambda: client.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": "soon"})])
        ),
    )

    client.create_partitions({topic: NewPartitions(5)})
    fact("grown.partitions", len(client.describe_topics([topic])[0]["partitions"]))

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    base = int(time.time() * 1000) - 100_000
    for i in range(10):
        producer.send(topic, value=f"r{i}".encode(), partition=0, timestamp_ms=base + i * 1000).get(
            timeout=DEADLINE_S
        )
    producer.close()

    p0 = TopicPartition(topic, 0)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    fact("offsets.earliest", consumer.beginning_offsets([p0])[p0])
    fact("offsets.latest", consumer.end_offsets([p0])[p0])
    at = consumer.offsets_for_times({p0: base + 4500})[p0]
    fact("offsets.for_timestamp", at.offset, at.timestamp - base)
    fact("offsets.after_last_timestamp", consumer.offsets_for_times({p0: base + 60_000})[p0])

    deleted = client.delete_records({p0: 4})
    fact("delete_records.low_watermark", deleted[p0]["low_watermark"])
    fact("offsets.earliest_after_delete", consumer.beginning_offsets([p0])[p0])
    consumer.close()

    client.delete_topics([topic])
    fact("deleted.listed", topic in client.list_topics())
    client.close()


def main():
    command, bootstrap, *rest = sys.argv[1:]
    try:
        if command == "roundtrip":
            roundtrip(bootstrap, rest[0], int(rest[1]), int(rest[2]))
        elif command == "consume":
            consume(bootstrap, rest[0], int(rest[1]), int(rest[2]))
        elif command == "admin":
            admin(bootstrap)
        elif command == "group":
            group(bootstrap, rest[0], rest[1], int(rest[2]), int(rest[3]))
        elif command == "member":
            member(bootstrap, rest[0], rest[1], int(rest[2]), int(rest[3]))
        else:
            raise ValueError(f"unknown command {command}")
    except Exception as error:  # noqa: BLE001 - reported to the test, which fails
        sys.stdout.flush()
        print(f"error {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
