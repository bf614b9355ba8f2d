"""aiokafka (an asyncio Kafka client with its own protocol code, unmodified) as a group member.

    python e2e/python/aiokafka_client.py member 127.0.0.1:9092 TOPIC GROUP 6000 120

  member BOOTSTRAP TOPIC GROUP SESSION_MS SECONDS   one long-lived member of GROUP, as
      e2e/src/members.rs drives it: prints each assignment change and each record as it
      happens, commits after every batch it processed, and stops on SIGTERM, on stdin
      closing, or after SECONDS:
        assigned P,P,...   (the whole current assignment; empty after a revocation)
        record PARTITION OFFSET
        stopped   (after leaving the group)

It judges nothing itself. A client exception ends the command with its class and message
on stderr, status 1.
"""

import asyncio
import faulthandler
import logging
import os
import signal
import sys

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.errors import KafkaError


def say(line):
    print(line, flush=True)


def diagnostics_to_stderr():
    """The client's own log on stderr, from WARNING up or at the level FJORD_CLIENT_LOG names
    (debug shows every request and response); SIGUSR1 dumps every thread's stack there."""
    level = os.environ.get("FJORD_CLIENT_LOG", "warning").upper()
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    faulthandler.register(signal.SIGUSR1)


class PrintAssignment(ConsumerRebalanceListener):
    def __init__(self, consumer):
        self.consumer = consumer

    def print_assignment(self, partitions):
        say("assigned " + ",".join(str(p) for p in sorted(tp.partition for tp in partitions)))

    async def on_partitions_revoked(self, revoked):
        self.print_assignment(set(self.consumer.assignment()) - set(revoked))

    async def on_partitions_assigned(self, assigned):
        self.print_assignment(self.consumer.assignment())


def stop_on_signal_or_eof(loop):
    """An event set by SIGTERM or by stdin closing: the member's ways to be told to stop."""
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    stdin = sys.stdin.fileno()

    def read_stdin():
        if not os.read(stdin, 4096):
            loop.remove_reader(stdin)
            stop.set()

    loop.add_reader(stdin, read_stdin)
    return stop


async def member(bootstrap, topic, group_id, session_ms, seconds):
    diagnostics_to_stderr()
    loop = asyncio.get_running_loop()
    stop = stop_on_signal_or_eof(loop)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=session_ms,
        heartbeat_interval_ms=min(500, session_ms // 3),
    )
    consumer.subscribe([topic], listener=PrintAssignment(consumer))
    await consumer.start()
    deadline = loop.time() + seconds
    try:
        while not stop.is_set() and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for r in records:
                    say(f"record {r.partition} {r.offset}")
            if batches:
                try:
                    await consumer.commit()
                except KafkaError as error:
                    # A rebalance took the partitions away: their new owner reads them again.
                    print(f"commit failed: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
    finally:
        await consumer.stop()
    say("stopped")


def main():
    command, bootstrap, *rest = sys.argv[1:]
    try:
        if command == "member":
            asyncio.run(member(bootstrap, rest[0], rest[1], int(rest[2]), int(rest[3])))
        else:
            raise ValueError(f"unknown command {command}")
    except Exception as error:  # noqa: BLE001 - reported to the test, which fails
        sys.stdout.flush()
        print(f"error {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
