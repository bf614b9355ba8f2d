"""confluent-kafka (librdkafka under Python, unmodified) as a group member.

    python e2e/python/confluent_kafka_client.py member 127.0.0.1:9092 TOPIC GROUP 6000 120 consumer

  member BOOTSTRAP TOPIC GROUP SESSION_MS SECONDS [PROTOCOL]   one long-lived member of GROUP,
      as e2e/src/members.rs drives it: prints each assignment change and each record as it
      happens, commits after every batch it processed, and stops on SIGTERM, on stdin
      closing, or after SECONDS:
        assigned P,P,...   (the whole current assignment; empty after a revocation)
        record PARTITION OFFSET
        stopped   (after leaving the group)
      PROTOCOL (or FJORD_GROUP_PROTOCOL; default classic) is librdkafka's group.protocol:
      `classic` (JoinGroup/SyncGroup, SESSION_MS is the member's session timeout) or
      `consumer` (KIP-848 ConsumerGroupHeartbeat: the broker decides the session timeout and
      the assignment, so SESSION_MS is not used).

It judges nothing itself. A client exception ends the command with its class and message
on stderr, status 1.
"""

import faulthandler
import os
import select
import signal
import sys
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition

PROTOCOLS = ("classic", "consumer")


def say(line):
    print(line, flush=True)


def warn(line):
    print(line, file=sys.stderr, flush=True)


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


class Assignment:
    """The member's partitions, kept from the rebalance callbacks. Under the classic protocol
    with librdkafka's default (eager) assignors every callback carries a whole assignment;
    under the consumer protocol, which is always incremental, only what is added or taken
    away, and librdkafka requires incremental_assign / incremental_unassign. (confluent-kafka
    has no rebalance_protocol(): the protocol the member was configured with tells which.)"""

    def __init__(self, incremental):
        self.incremental = incremental
        self.owned = set()

    def print(self):
        say("assigned " + ",".join(str(p) for p in sorted(tp.partition for tp in self.owned)))

    def on_assign(self, consumer, partitions):
        if self.incremental:
            consumer.incremental_assign(partitions)
            self.owned |= set(partitions)
        else:
            consumer.assign(partitions)
            self.owned = set(partitions)
        self.print()

    def on_revoke(self, consumer, partitions):
        if self.incremental:
            consumer.incremental_unassign(partitions)
            self.owned -= set(partitions)
        else:
            consumer.unassign()
            self.owned = set()
        self.print()

    def on_lost(self, consumer, partitions):
        warn(f"lost {sorted(tp.partition for tp in partitions)}")
        self.on_revoke(consumer, partitions)


def config(bootstrap, group_id, session_ms, protocol):
    settings = {
        "bootstrap.servers": bootstrap,
        "group.id": group_id,
        "group.protocol": protocol,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        # librdkafka logs to stderr; FJORD_CLIENT_LOG=debug shows the group's requests.
        "log_level": 7 if os.environ.get("FJORD_CLIENT_LOG") == "debug" else 4,
    }
    if os.environ.get("FJORD_CLIENT_LOG") == "debug":
        settings["debug"] = "cgrp,consumer,protocol"
    if protocol == "classic":
        # With the consumer protocol the broker decides these; librdkafka refuses them there.
        settings["session.timeout.ms"] = session_ms
        settings["heartbeat.interval.ms"] = min(500, session_ms // 3)
    return settings


def commit(consumer, records):
    """Commits the position after each partition's last processed record."""
    last = {}
    for record in records:
        key = (record.topic(), record.partition())
        last[key] = max(last.get(key, -1), record.offset())
    offsets = [TopicPartition(topic, partition, offset + 1) for (topic, partition), offset in last.items()]
    try:
        consumer.commit(offsets=offsets, asynchronous=False)
    except KafkaException as error:
        # A rebalance took the partitions away: their new owner reads them again.
        warn(f"commit failed: {error}")


def member(bootstrap, topic, group_id, session_ms, seconds, protocol):
    faulthandler.register(signal.SIGUSR1)
    stop = StopRequest()
    assignment = Assignment(incremental=protocol == "consumer")
    consumer = Consumer(config(bootstrap, group_id, session_ms, protocol))
    consumer.subscribe(
        [topic],
        on_assign=assignment.on_assign,
        on_revoke=assignment.on_revoke,
        on_lost=assignment.on_lost,
    )
    deadline = time.monotonic() + seconds
    while not stop.is_set() and time.monotonic() < deadline:
        processed = []
        for record in consumer.consume(num_messages=500, timeout=0.2):
            if record.error() is not None:
                warn(f"consume error: {record.error()}")
                continue
            say(f"record {record.partition()} {record.offset()}")
            processed.append(record)
        if processed:
            commit(consumer, processed)
    consumer.close()
    say("stopped")


def main():
    command, bootstrap, *rest = sys.argv[1:]
    try:
        if command == "member":
            protocol = rest[4] if len(rest) > 4 else os.environ.get("FJORD_GROUP_PROTOCOL", "classic")
            if protocol not in PROTOCOLS:
                raise ValueError(f"group protocol {protocol!r} is not one of {PROTOCOLS}")
            member(bootstrap, rest[0], rest[1], int(rest[2]), int(rest[3]), protocol)
        else:
            raise ValueError(f"unknown command {command}")
    except Exception as error:  # noqa: BLE001 - reported to the test, which fails
        sys.stdout.flush()
        print(f"error {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
