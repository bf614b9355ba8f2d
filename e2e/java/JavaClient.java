// The Apache Kafka Java client (kafka-clients), unmodified, against a broker.
//
// Run as a single source file, e.g.
//   java -cp "$FJORD_KAFKA_JAVA_CP" e2e/java/JavaClient.java roundtrip 127.0.0.1:9092 zstd 10000 100
//
// Each command does real client work and prints what it saw, one fact per
// line, for e2e/tests/java_client.rs to check; it judges nothing itself. A
// client exception ends the command with its class and message on stderr and
// exit status 1.
//
//   roundtrip BOOTSTRAP CODEC COUNT SIZE   create topic java-CODEC (8 partitions),
//       produce COUNT keyed records with the idempotent producer and CODEC,
//       then read the topic back from the beginning:
//         delivered I PARTITION OFFSET
//         consumed PARTITION OFFSET TIMESTAMP KEY VALUE
//   consume BOOTSTRAP TOPIC PARTITIONS COUNT   read COUNT records from the beginning:
//         consumed PARTITION OFFSET TIMESTAMP KEY VALUE
//   group BOOTSTRAP TOPIC GROUP COUNT SECONDS   subscribe as a member of GROUP, read until
//       COUNT records arrived or SECONDS passed, commit synchronously, then print:
//         consumed PARTITION OFFSET
//         committed PARTITION OFFSET   (for each partition it was assigned)
//   member BOOTSTRAP TOPIC GROUP ASSIGNOR SECONDS   a long-lived member of GROUP using the
//       assignor class ASSIGNOR (RangeAssignor, CooperativeStickyAssignor, ...), session timeout
//       6 s; ASSIGNOR `consumer` (or `consumer:NAME`, a server assignor) uses the KIP-848
//       consumer protocol instead, with the broker's session, heartbeat and assignor. It processes each record (prints it), then commits synchronously: at-least-once.
//       It runs until its stdin closes (then it closes the consumer, leaving the group) or
//       SECONDS pass, printing each line as it happens:
//         assigned PARTITION...   revoked PARTITION...   lost PARTITION...   (listener calls)
//         record PARTITION OFFSET
//         uncommitted EXCEPTION   (a commit refused during a rebalance; retried after a poll)
//         closed
//   groupadmin BOOTSTRAP TOPIC GROUP   the admin client's group calls against GROUP, which
//       has committed offsets for TOPIC and no members:
//         fact NAME VALUE...
//   admin BOOTSTRAP   topics, configs, partitions, offsets, records, cluster, bad input:
//         fact NAME VALUE...
//   ctp BOOTSTRAP INPUT OUTPUT GROUP TRANSACTIONAL_ID SECONDS   consume-transform-produce,
//       exactly once: a read_committed member of GROUP reads INPUT and, for each record
//       P/O/VALUE, a transactional producer (TRANSACTIONAL_ID, transaction timeout 10 s)
//       writes `in:P:O:VALUE` (same key) to OUTPUT, committing the consumed offsets in the
//       same transaction (sendOffsetsToTransaction with the consumer's group metadata), one
//       transaction of at most 50 records per poll. Any client error ends it (exit status 1:
//       a fenced or failed instance is restarted by its caller, and the restart fences what
//       it left open). It runs until SIGTERM, its stdin closes or SECONDS pass, printing:
//         initialized   (initTransactions returned: earlier instances are fenced)
//         assigned PARTITION...   revoked PARTITION...   lost PARTITION...
//         committed COUNT PARTITION=NEXT_OFFSET...   (one line per committed transaction)
//         closed
//   quorum BOOTSTRAP   the metadata quorum (describeMetadataQuorum) and the brokers:
//         fact leader ID EPOCH HIGH_WATERMARK
//         fact voter ID LOG_END_OFFSET     fact observer ID LOG_END_OFFSET
//         fact broker ID HOST PORT
//   voters BOOTSTRAP CHANGE...   addRaftVoter (add:ID:HOST:PORT) and removeRaftVoter (remove:ID),
//       in order:
//         fact voter-change CHANGE OUTCOME   (the exception's class, or none)
//   times BOOTSTRAP COUNT CODEC...   per CODEC create topic java-times-CODEC (6 partitions),
//       send COUNT records to each partition with increasing CreateTime timestamps, all at
//       once so that they share batches, then look every partition up by time with the
//       consumer's offsetsForTimes (5 ms before each record's timestamp, and 1 ms after the
//       last) and with the admin's maxTimestamp; -1 -1 when nothing is found:
//         sent CODEC PARTITION OFFSET TIMESTAMP
//         found CODEC PARTITION QUERY OFFSET TIMESTAMP
//         max CODEC PARTITION OFFSET TIMESTAMP

import java.time.Duration;
import java.util.*;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.*;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.RebalanceInProgressException;
import org.apache.kafka.common.serialization.*;

public class JavaClient {
    static final Duration DEADLINE = Duration.ofSeconds(60);

    public static void main(String[] args) throws Exception {
        try {
            switch (args[0]) {
                case "roundtrip" -> roundtrip(args[1], args[2], Integer.parseInt(args[3]), Integer.parseInt(args[4]));
                case "consume" -> consume(args[1], args[2], Integer.parseInt(args[3]), Integer.parseInt(args[4]));
                case "admin" -> admin(args[1]);
                case "member" -> member(args[1], args[2], args[3], args[4], Integer.parseInt(args[5]));
                case "groupadmin" -> groupAdmin(args[1], args[2], args[3]);
                case "describegroup" -> describeGroup(args[1], args[2]);
                case "features" -> features(args[1], Arrays.asList(args).subList(2, args.length));
                case "transactions" -> transactions(args[1], args[2], args[3]);
                case "txnadmin" -> txnAdmin(args[1], args[2]);
                case "quorum" -> quorum(args[1]);
                case "voters" -> voters(args[1], Arrays.asList(args).subList(2, args.length));
                case "ctp" -> ctp(args[1], args[2], args[3], args[4], args[5], Integer.parseInt(args[6]));
                case "group" -> group(args[1], args[2], args[3], Integer.parseInt(args[4]), Integer.parseInt(args[5]));
                case "times" -> times(args[1], Integer.parseInt(args[2]), Arrays.asList(args).subList(3, args.length));
                default -> throw new IllegalArgumentException("unknown command " + args[0]);
            }
        } catch (Exception e) {
            Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
            System.err.println("error " + cause.getClass().getName() + ": " + cause.getMessage());
            System.out.flush();
            System.exit(1);
        }
        System.out.flush();
    }

    /** The records of e2e's `keyed_records(tag, count, size)`, byte for byte. */
    static String key(int i) {
        return "key-" + (i % 997);
    }

    static String value(String tag, int i, int size) {
        StringBuilder value = new StringBuilder(String.format("%s-%08d-", tag, i));
        while (value.length() < size) {
            value.append((char) ('a' + ((i + value.length()) % 26)));
        }
        return value.toString();
    }

    static Properties common(String bootstrap) {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("request.timeout.ms", "30000");
        return props;
    }

    static void roundtrip(String bootstrap, String codec, int count, int size) throws Exception {
        String topic = "java-" + codec;
        try (Admin admin = Admin.create(common(bootstrap))) {
            admin.createTopics(List.of(new NewTopic(topic, 8, (short) 1))).all().get(60, TimeUnit.SECONDS);
        }
        Properties props = common(bootstrap);
        props.put("key.serializer", ByteArraySerializer.class.getName());
        props.put("value.serializer", ByteArraySerializer.class.getName());
        // The client's defaults since Kafka 3.0, spelled out: this is what they test.
        props.put("enable.idempotence", "true");
        props.put("acks", "all");
        props.put("compression.type", codec);
        props.put("batch.size", "65536");
        int[] partitions = new int[count];
        long[] offsets = new long[count];
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
            List<java.util.concurrent.Future<RecordMetadata>> sent = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                sent.add(producer.send(new ProducerRecord<>(topic, key(i).getBytes(), value(codec, i, size).getBytes())));
            }
            producer.flush();
            for (int i = 0; i < count; i++) {
                RecordMetadata metadata = sent.get(i).get(60, TimeUnit.SECONDS);
                partitions[i] = metadata.partition();
                offsets[i] = metadata.offset();
            }
        }
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < count; i++) {
            out.append("delivered ").append(i).append(' ').append(partitions[i]).append(' ').append(offsets[i]).append('\n');
        }
        System.out.print(out);
        consume(bootstrap, topic, 8, count);
    }

    static void consume(String bootstrap, String topic, int partitions, int count) throws Exception {
        Properties props = common(bootstrap);
        props.put("key.deserializer", ByteArrayDeserializer.class.getName());
        props.put("value.deserializer", ByteArrayDeserializer.class.getName());
        props.put("enable.auto.commit", "false");
        props.put("max.partition.fetch.bytes", "262144");
        List<TopicPartition> assignment = new ArrayList<>();
        for (int p = 0; p < partitions; p++) {
            assignment.add(new TopicPartition(topic, p));
        }
        StringBuilder out = new StringBuilder();
        int seen = 0;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            consumer.assign(assignment);
            consumer.seekToBeginning(assignment);
            long deadline = System.nanoTime() + DEADLINE.toNanos();
            while (seen < count && System.nanoTime() < deadline) {
                for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(200))) {
                    out.append("consumed ").append(record.partition()).append(' ').append(record.offset())
                        .append(' ').append(record.timestamp()).append(' ').append(new String(record.key()))
                        .append(' ').append(new String(record.value())).append('\n');
                    seen++;
                }
            }
        }
        System.out.print(out);
        if (seen < count) {
            throw new IllegalStateException("consumed " + seen + " of " + count + " records from " + topic);
        }
    }

    static void group(String bootstrap, String topic, String group, int count, int seconds) throws Exception {
        Properties props = common(bootstrap);
        props.put("key.deserializer", ByteArrayDeserializer.class.getName());
        props.put("value.deserializer", ByteArrayDeserializer.class.getName());
        props.put("group.id", group);
        props.put("enable.auto.commit", "false");
        props.put("auto.offset.reset", "earliest");
        StringBuilder out = new StringBuilder();
        int seen = 0;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            consumer.subscribe(List.of(topic));
            long deadline = System.nanoTime() + Duration.ofSeconds(seconds).toNanos();
            while (seen < count && System.nanoTime() < deadline) {
                for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(200))) {
                    out.append("consumed ").append(record.partition()).append(' ').append(record.offset()).append('\n');
                    seen++;
                }
            }
            consumer.commitSync(DEADLINE);
            for (Map.Entry<TopicPartition, OffsetAndMetadata> entry : consumer.committed(consumer.assignment(), DEADLINE).entrySet()) {
                if (entry.getValue() != null) {
                    out.append("committed ").append(entry.getKey().partition()).append(' ')
                        .append(entry.getValue().offset()).append('\n');
                }
            }
        }
        System.out.print(out);
    }

    /** One line on stdout, flushed: a member process is watched while it runs. */
    static synchronized void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    static void sayPartitions(String kind, Collection<TopicPartition> partitions) {
        StringBuilder line = new StringBuilder(kind);
        partitions.stream().map(TopicPartition::partition).sorted().forEach(p -> line.append(' ').append(p));
        say(line.toString());
    }

    static void member(String bootstrap, String topic, String group, String assignor, int seconds) throws Exception {
        Properties props = common(bootstrap);
        props.put("key.deserializer", ByteArrayDeserializer.class.getName());
        props.put("value.deserializer", ByteArrayDeserializer.class.getName());
        props.put("group.id", group);
        if (assignor.startsWith("consumer")) {
            // KIP-848: the broker assigns and sets the session and heartbeat; the classic
            // settings are refused with this protocol. "consumer:NAME" picks a server assignor.
            props.put("group.protocol", "consumer");
            if (assignor.startsWith("consumer:")) {
                props.put("group.remote.assignor", assignor.substring("consumer:".length()));
            }
        } else {
            props.put("group.protocol", "classic");
            props.put("partition.assignment.strategy", "org.apache.kafka.clients.consumer." + assignor);
            props.put("session.timeout.ms", "6000");
            props.put("heartbeat.interval.ms", "500");
        }
        props.put("enable.auto.commit", "false");
        props.put("auto.offset.reset", "earliest");
        AtomicBoolean stop = new AtomicBoolean();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            Thread stdin = new Thread(() -> {
                try {
                    while (System.in.read() != -1) {
                        // Only the end of input matters.
                    }
                } catch (java.io.IOException e) {
                    // A broken stdin also means stop.
                }
                stop.set(true);
                consumer.wakeup();
            });
            stdin.setDaemon(true);
            stdin.start();
            consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                    // What was processed from them is committed before another member takes over.
                    commit(consumer);
                    sayPartitions("revoked", partitions);
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                    sayPartitions("assigned", partitions);
                }

                @Override
                public void onPartitionsLost(Collection<TopicPartition> partitions) {
                    sayPartitions("lost", partitions);
                }
            });
            long deadline = System.nanoTime() + Duration.ofSeconds(seconds).toNanos();
            boolean uncommitted = false;
            try {
                while (!stop.get() && System.nanoTime() < deadline) {
                    ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(100));
                    for (ConsumerRecord<byte[], byte[]> record : records) {
                        say("record " + record.partition() + " " + record.offset());
                    }
                    if (!records.isEmpty() || uncommitted) {
                        uncommitted = !commit(consumer);
                    }
                }
            } catch (org.apache.kafka.common.errors.WakeupException e) {
                // stdin closed: leave the group below.
            }
        }
        say("closed");
    }

    /**
     * Commits what was polled. A rebalance under way refuses it (the next poll completes the
     * rebalance, then the member commits again); says whether it committed.
     */
    static boolean commit(KafkaConsumer<byte[], byte[]> consumer) {
        try {
            consumer.commitSync(DEADLINE);
            return true;
        } catch (RebalanceInProgressException | CommitFailedException e) {
            say("uncommitted " + e.getClass().getSimpleName());
            return false;
        }
    }

    static void groupAdmin(String bootstrap, String topic, String group) throws Exception {
        Properties props = common(bootstrap);
        try (Admin admin = Admin.create(props)) {
            for (ConsumerGroupListing listing : admin.listConsumerGroups().all().get()) {
                fact("listed", listing.groupId(), listing.groupState().map(Object::toString).orElse("?"));
            }
            ConsumerGroupDescription description =
                admin.describeConsumerGroups(List.of(group)).describedGroups().get(group).get();
            fact("described", description.groupId(), description.groupState(), description.members().size());
            Map<TopicPartition, OffsetAndMetadata> offsets =
                admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            new TreeMap<>(offsetsByPartition(offsets)).forEach((p, o) -> fact("offset", p, o));
            // Reset partition 0 to the start, as `kafka-consumer-groups --reset-offsets` does.
            admin.alterConsumerGroupOffsets(group, Map.of(new TopicPartition(topic, 0), new OffsetAndMetadata(0))).all().get();
            offsets = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            new TreeMap<>(offsetsByPartition(offsets)).forEach((p, o) -> fact("altered", p, o));
            admin.deleteConsumerGroupOffsets(group, Set.of(new TopicPartition(topic, 1))).all().get();
            offsets = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            new TreeMap<>(offsetsByPartition(offsets)).forEach((p, o) -> fact("after-delete", p, o));
            admin.deleteConsumerGroups(List.of(group)).all().get();
            offsets = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            fact("offsets-after-group-delete", offsets.size());
            fact("delete-unknown", refusal(() -> admin.deleteConsumerGroups(List.of("no-such-group")).all().get()));
        }
    }

    /**
     * How the Admin API sees one group, either kind: ListGroups' type, protocol and state, and
     * describeConsumerGroups' type, state and members (whether each speaks the consumer
     * protocol: KIP-1099's "upgraded").
     */
    static void describeGroup(String bootstrap, String group) throws Exception {
        try (Admin admin = Admin.create(common(bootstrap))) {
            for (GroupListing listing : admin.listGroups().all().get()) {
                if (listing.groupId().equals(group)) {
                    fact("listed", group, listing.type().map(Object::toString).orElse("?"),
                        listing.protocol(), listing.groupState().map(Object::toString).orElse("?"));
                }
            }
            ConsumerGroupDescription description =
                admin.describeConsumerGroups(List.of(group)).describedGroups().get(group).get();
            List<String> upgraded = new ArrayList<>();
            for (MemberDescription member : description.members()) {
                upgraded.add(member.upgraded().map(Object::toString).orElse("?"));
            }
            Collections.sort(upgraded);
            fact("described", group, description.type(), description.groupState(),
                description.members().size(), String.join(",", upgraded));
        }
    }

    /**
     * A transactional producer on TOPIC (one partition): commits 100 records with the group's
     * offset 100, aborts 100 with offset 200, commits 50 with offset 250; then what a
     * read_committed and a read_uncommitted consumer read (the values, in order) and the
     * group's committed offset, as facts.
     */
    static void transactions(String bootstrap, String topic, String group) throws Exception {
        Properties props = common(bootstrap);
        props.put("key.serializer", StringSerializer.class.getName());
        props.put("value.serializer", StringSerializer.class.getName());
        props.put("transactional.id", "java-txn");
        props.put("transaction.timeout.ms", "30000");
        TopicPartition tp = new TopicPartition(topic, 0);
        ConsumerGroupMetadata metadata = new ConsumerGroupMetadata(group);
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            producer.initTransactions();
            int[][] batches = {{0, 100, 1}, {100, 200, 0}, {200, 250, 1}};
            for (int[] batch : batches) {
                producer.beginTransaction();
                for (int i = batch[0]; i < batch[1]; i++) {
                    producer.send(new ProducerRecord<>(topic, 0, "k" + i, "v" + i));
                }
                producer.sendOffsetsToTransaction(
                    Map.of(tp, new OffsetAndMetadata(batch[1])), metadata);
                // An abort drops records not yet sent: send them all, so both isolation
                // levels have a known count to read.
                producer.flush();
                if (batch[2] == 1) {
                    producer.commitTransaction();
                } else {
                    producer.abortTransaction();
                }
                fact("ended", batch[0], batch[1], batch[2] == 1 ? "commit" : "abort");
            }
        }
        for (String isolation : List.of("read_committed", "read_uncommitted")) {
            Properties c = common(bootstrap);
            c.put("key.deserializer", StringDeserializer.class.getName());
            c.put("value.deserializer", StringDeserializer.class.getName());
            c.put("enable.auto.commit", "false");
            c.put("isolation.level", isolation);
            List<String> values = new ArrayList<>();
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c)) {
                consumer.assign(List.of(tp));
                consumer.seekToBeginning(List.of(tp));
                long end = consumer.endOffsets(List.of(tp)).get(tp);
                long deadline = System.currentTimeMillis() + 30_000;
                while (consumer.position(tp) < end && System.currentTimeMillis() < deadline) {
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                        values.add(r.value());
                    }
                }
                fact(isolation + "-end", end);
            }
            fact(isolation, values.size(), String.join(",", values));
        }
        try (Admin admin = Admin.create(common(bootstrap))) {
            Map<TopicPartition, OffsetAndMetadata> offsets =
                admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            fact("group-offset", offsets.get(tp) == null ? -1 : offsets.get(tp).offset());
        }
    }

    /** The consume-transform-produce loop of the `ctp` command (see the top of this file). */
    static void ctp(String bootstrap, String input, String output, String group, String transactionalId,
                    int seconds) throws Exception {
        Properties c = common(bootstrap);
        c.put("key.deserializer", ByteArrayDeserializer.class.getName());
        c.put("value.deserializer", ByteArrayDeserializer.class.getName());
        c.put("group.id", group);
        c.put("group.protocol", "classic");
        c.put("isolation.level", "read_committed");
        c.put("enable.auto.commit", "false");
        c.put("auto.offset.reset", "earliest");
        c.put("max.poll.records", "50");
        // A killed instance's membership ends soon, so that its successor gets the partitions.
        c.put("session.timeout.ms", "6000");
        c.put("heartbeat.interval.ms", "500");
        c.put("max.poll.interval.ms", "20000");
        Properties p = common(bootstrap);
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        p.put("transactional.id", transactionalId);
        p.put("transaction.timeout.ms", "10000");
        // Bounded waits while the broker is away: a call that cannot finish fails, and the
        // instance ends.
        p.put("request.timeout.ms", "10000");
        p.put("delivery.timeout.ms", "20000");
        p.put("max.block.ms", "20000");
        p.put("linger.ms", "5");
        AtomicBoolean stop = new AtomicBoolean();
        java.util.concurrent.CountDownLatch closed = new java.util.concurrent.CountDownLatch(1);
        KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p);
        KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(c);
        Runnable stopper = () -> {
            stop.set(true);
            consumer.wakeup();
        };
        Thread stdin = new Thread(() -> {
            try {
                while (System.in.read() != -1) {
                    // Only the end of input matters.
                }
            } catch (java.io.IOException e) {
                // A broken stdin also means stop.
            }
            stopper.run();
        });
        stdin.setDaemon(true);
        stdin.start();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            // SIGTERM: finish the transaction under way, then close.
            stopper.run();
            try {
                closed.await(15, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }));
        try {
            producer.initTransactions();
            say("initialized");
            consumer.subscribe(List.of(input), new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                    sayPartitions("revoked", partitions);
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                    sayPartitions("assigned", partitions);
                }

                @Override
                public void onPartitionsLost(Collection<TopicPartition> partitions) {
                    sayPartitions("lost", partitions);
                }
            });
            long deadline = System.nanoTime() + Duration.ofSeconds(seconds).toNanos();
            while (!stop.get() && System.nanoTime() < deadline) {
                ConsumerRecords<byte[], byte[]> records;
                try {
                    records = consumer.poll(Duration.ofMillis(100));
                } catch (org.apache.kafka.common.errors.WakeupException e) {
                    break;
                }
                if (records.isEmpty()) {
                    continue;
                }
                producer.beginTransaction();
                Map<TopicPartition, OffsetAndMetadata> offsets = new TreeMap<>(
                    Comparator.comparing(TopicPartition::partition));
                for (ConsumerRecord<byte[], byte[]> record : records) {
                    String value = "in:" + record.partition() + ":" + record.offset() + ":" + new String(record.value());
                    producer.send(new ProducerRecord<>(output, record.key(), value.getBytes()));
                    offsets.put(new TopicPartition(record.topic(), record.partition()),
                        new OffsetAndMetadata(record.offset() + 1));
                }
                producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
                producer.commitTransaction();
                StringBuilder line = new StringBuilder("committed ").append(records.count());
                offsets.forEach((tp, o) -> line.append(' ').append(tp.partition()).append('=').append(o.offset()));
                say(line.toString());
            }
        } finally {
            producer.close(Duration.ofSeconds(5));
            consumer.close(CloseOptions.timeout(Duration.ofSeconds(5)));
            say("closed");
            closed.countDown();
        }
    }

    /**
     * The Admin API's view of a transaction left open (the stuck-transaction tools:
     * listTransactions, describeTransactions, describeProducers), then of it committed.
     */
    static void txnAdmin(String bootstrap, String topic) throws Exception {
        Properties props = common(bootstrap);
        props.put("key.serializer", StringSerializer.class.getName());
        props.put("value.serializer", StringSerializer.class.getName());
        props.put("transactional.id", "stuck");
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props);
             Admin admin = Admin.create(common(bootstrap))) {
            producer.initTransactions();
            producer.beginTransaction();
            for (int i = 0; i < 5; i++) {
                producer.send(new ProducerRecord<>(topic, 0, "k", "v" + i));
            }
            producer.flush();
            for (String when : List.of("open", "committed")) {
                for (TransactionListing listing : admin.listTransactions().all().get()) {
                    fact(when + "-listed", listing.transactionalId(), listing.state());
                }
                TransactionDescription d = admin.describeTransactions(List.of("stuck")).description("stuck").get();
                fact(when + "-described", d.state(), d.topicPartitions().size(), d.producerEpoch() >= 0);
                for (ProducerState p : admin.describeProducers(List.of(tp)).partitionResult(tp).get().activeProducers()) {
                    fact(when + "-producer", p.producerEpoch() >= 0,
                        p.currentTransactionStartOffset().isPresent() ? p.currentTransactionStartOffset().getAsLong() : -1);
                }
                if (when.equals("open")) {
                    producer.commitTransaction();
                    Thread.sleep(500);
                }
            }
            fact("unknown", refusal(() -> admin.describeTransactions(List.of("nobody")).description("nobody").get()));
        }
    }

    /**
     * describeFeatures, then each update `NAME=LEVEL[:safe|:unsafe]` on its own (a refusal is
     * printed, not thrown), then describeFeatures again.
     */
    /**
     * The metadata quorum as Admin.describeMetadataQuorum reports it: the leader, each voter
     * and observer with its log end offset, and the cluster's brokers.
     */
    static void quorum(String bootstrap) throws Exception {
        try (Admin admin = Admin.create(common(bootstrap))) {
            QuorumInfo info = admin.describeMetadataQuorum().quorumInfo().get();
            fact("leader", info.leaderId(), info.leaderEpoch(), info.highWatermark());
            for (QuorumInfo.ReplicaState voter : info.voters()) {
                fact("voter", voter.replicaId(), voter.logEndOffset());
            }
            for (QuorumInfo.ReplicaState observer : info.observers()) {
                fact("observer", observer.replicaId(), observer.logEndOffset());
            }
            for (Node node : admin.describeCluster().nodes().get()) {
                fact("broker", node.id(), node.host(), node.port());
            }
        }
    }

    /**
     * Changes the metadata quorum's voters one at a time: each CHANGE is add:ID:HOST:PORT or
     * remove:ID; prints each outcome (the exception's class, or none).
     */
    static void voters(String bootstrap, List<String> changes) throws Exception {
        try (Admin admin = Admin.create(common(bootstrap))) {
            for (String change : changes) {
                String[] parts = change.split(":");
                int id = Integer.parseInt(parts[1]);
                String outcome = parts[0].equals("add")
                    ? refusal(() -> admin.addRaftVoter(id, Uuid.randomUuid(),
                        Set.of(new RaftVoterEndpoint("CONTROLLER", parts[2], Integer.parseInt(parts[3]))))
                        .all().get())
                    : refusal(() -> admin.removeRaftVoter(id, Uuid.randomUuid()).all().get());
                fact("voter-change", change, outcome);
            }
        }
    }

    static void features(String bootstrap, List<String> updates) throws Exception {
        try (Admin admin = Admin.create(common(bootstrap))) {
            printFeatures(admin, "before");
            for (String update : updates) {
                String[] parts = update.split("[=:]");
                FeatureUpdate.UpgradeType type = parts.length < 3 ? FeatureUpdate.UpgradeType.UPGRADE
                    : parts[2].equals("safe") ? FeatureUpdate.UpgradeType.SAFE_DOWNGRADE
                    : FeatureUpdate.UpgradeType.UNSAFE_DOWNGRADE;
                FeatureUpdate change = new FeatureUpdate(Short.parseShort(parts[1]), type);
                fact("update", update, refusal(() ->
                    admin.updateFeatures(Map.of(parts[0], change), new UpdateFeaturesOptions()).all().get()));
            }
            printFeatures(admin, "after");
        }
    }

    static void printFeatures(Admin admin, String when) throws Exception {
        FeatureMetadata metadata = admin.describeFeatures().featureMetadata().get();
        new TreeMap<>(metadata.finalizedFeatures()).forEach((name, range) ->
            fact(when + "-finalized", name, range.minVersionLevel(), range.maxVersionLevel()));
        new TreeMap<>(metadata.supportedFeatures()).forEach((name, range) ->
            fact(when + "-supported", name, range.minVersion(), range.maxVersion()));
    }

    static Map<Integer, Long> offsetsByPartition(Map<TopicPartition, OffsetAndMetadata> offsets) {
        Map<Integer, Long> out = new HashMap<>();
        offsets.forEach((tp, o) -> out.put(tp.partition(), o == null ? -1 : o.offset()));
        return out;
    }

    static void fact(String name, Object... values) {
        StringBuilder line = new StringBuilder("fact ").append(name);
        for (Object value : values) {
            line.append(' ').append(value);
        }
        System.out.println(line);
    }

    /** The class of what `action` threw (unwrapping the future's wrapper), or "none". */
    static String refusal(Callable action) {
        try {
            action.call();
            return "none";
        } catch (ExecutionException e) {
            return e.getCause().getClass().getSimpleName() + ":" + String.valueOf(e.getCause().getMessage()).replace(' ', '_');
        } catch (Exception e) {
            return e.getClass().getSimpleName() + ":" + String.valueOf(e.getMessage()).replace(' ', '_');
        }
    }

    interface Callable {
        void call() throws Exception;
    }

    static void admin(String bootstrap) throws Exception {
        String topic = "java-admin";
        try (Admin admin = Admin.create(common(bootstrap))) {
            DescribeClusterResult cluster = admin.describeCluster();
            fact("cluster.id", cluster.clusterId().get());
            fact("cluster.nodes", cluster.nodes().get().size());
            fact("cluster.controller", cluster.controller().get().id());

            // validate_only creates nothing.
            admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1)), new CreateTopicsOptions().validateOnly(true))
                .all().get();
            fact("validate_only.listed", admin.listTopics().names().get().contains(topic));

            CreateTopicsResult created = admin.createTopics(List.of(
                new NewTopic(topic, 3, (short) 1).configs(Map.of("retention.ms", "3600000", "segment.bytes", "1048576"))));
            created.all().get();
            fact("create.topic_id", created.topicId(topic).get());
            fact("create.partitions", created.numPartitions(topic).get());
            fact("create.twice", refusal(() -> admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get()));
            fact("create.bad_name", refusal(() -> admin.createTopics(List.of(new NewTopic("bad/name", 1, (short) 1))).all().get()));
            fact("create.bad_config", refusal(() -> admin.createTopics(List.of(
                new NewTopic("java-bad-config", 1, (short) 1).configs(Map.of("retention.ms", "soon")))).all().get()));

            TopicDescription described = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
            fact("describe.topic_id", described.topicId());
            fact("describe.partitions", described.partitions().size());
            fact("describe.unknown", refusal(() -> admin.describeTopics(List.of("java-missing")).allTopicNames().get()));

            ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            Config config = admin.describeConfigs(List.of(resource), new DescribeConfigsOptions().includeSynonyms(true))
                .all().get().get(resource);
            for (String name : List.of("retention.ms", "segment.bytes", "cleanup.policy", "max.message.bytes")) {
                ConfigEntry entry = config.get(name);
                fact("config." + name, entry.value(), entry.source(), entry.isDefault(), entry.synonyms().size());
            }

            admin.incrementalAlterConfigs(Map.of(resource, List.of(
                new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET),
                new AlterConfigOp(new ConfigEntry("segment.bytes", null), AlterConfigOp.OpType.DELETE)))).all().get();
            Config altered = admin.describeConfigs(List.of(resource)).all().get().get(resource);
            fact("altered.retention.ms", altered.get("retention.ms").value(), altered.get("retention.ms").source());
            fact("altered.segment.bytes", altered.get("segment.bytes").value(), altered.get("segment.bytes").source());
            fact("alter.bad_value", refusal(() -> admin.incrementalAlterConfigs(Map.of(resource, List.of(
                new AlterConfigOp(new ConfigEntry("retention.ms", "soon"), AlterConfigOp.OpType.SET)))).all().get()));
            fact("alter.unknown_name", refusal(() -> admin.incrementalAlterConfigs(Map.of(resource, List.of(
                new AlterConfigOp(new ConfigEntry("no.such.config", "1"), AlterConfigOp.OpType.SET)))).all().get()));

            ConfigResource broker = new ConfigResource(ConfigResource.Type.BROKER, String.valueOf(cluster.controller().get().id()));
            Config brokerConfig = admin.describeConfigs(List.of(broker)).all().get().get(broker);
            fact("broker.log.retention.ms", brokerConfig.get("log.retention.ms").value());
            fact("broker.num.partitions", brokerConfig.get("num.partitions").value());

            admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(5))).all().get();
            fact("grown.partitions", admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions().size());
            fact("shrink", refusal(() -> admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(2))).all().get()));

            // Ten records with known timestamps into partition 0.
            Properties props = common(bootstrap);
            props.put("key.serializer", ByteArraySerializer.class.getName());
            props.put("value.serializer", ByteArraySerializer.class.getName());
            long base = System.currentTimeMillis() - 100_000;
            try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
                for (int i = 0; i < 10; i++) {
                    producer.send(new ProducerRecord<>(topic, 0, base + i * 1000L, null, ("r" + i).getBytes())).get();
                }
            }
            TopicPartition p0 = new TopicPartition(topic, 0);
            fact("offsets.earliest", admin.listOffsets(Map.of(p0, OffsetSpec.earliest())).partitionResult(p0).get().offset());
            fact("offsets.latest", admin.listOffsets(Map.of(p0, OffsetSpec.latest())).partitionResult(p0).get().offset());
            ListOffsetsResult.ListOffsetsResultInfo max = admin.listOffsets(Map.of(p0, OffsetSpec.maxTimestamp()))
                .partitionResult(p0).get();
            fact("offsets.max_timestamp", max.offset(), max.timestamp() - base);
            ListOffsetsResult.ListOffsetsResultInfo at = admin.listOffsets(Map.of(p0, OffsetSpec.forTimestamp(base + 4500)))
                .partitionResult(p0).get();
            fact("offsets.for_timestamp", at.offset(), at.timestamp() - base);
            fact("offsets.after_last_timestamp", admin.listOffsets(Map.of(p0, OffsetSpec.forTimestamp(base + 60_000)))
                .partitionResult(p0).get().offset());

            DeletedRecords deleted = admin.deleteRecords(Map.of(p0, RecordsToDelete.beforeOffset(4))).lowWatermarks()
                .get(p0).get();
            fact("delete_records.low_watermark", deleted.lowWatermark());
            fact("offsets.earliest_after_delete", admin.listOffsets(Map.of(p0, OffsetSpec.earliest())).partitionResult(p0).get().offset());
            fact("delete_records.beyond_end", refusal(() -> admin.deleteRecords(Map.of(p0, RecordsToDelete.beforeOffset(99)))
                .all().get()));

            admin.deleteTopics(TopicCollection.ofTopicNames(List.of(topic))).all().get();
            fact("deleted.listed", admin.listTopics().names().get().contains(topic));
            fact("delete.unknown", refusal(() -> admin.deleteTopics(TopicCollection.ofTopicNames(List.of(topic))).all().get()));
        }
    }

    static final int TIME_PARTITIONS = 6;

    /** Record I of partition P: 10 ms apart, partitions apart by 1 ms. */
    static long stamp(long base, int partition, int i) {
        return base + 10L * i + partition;
    }

    static void times(String bootstrap, int count, List<String> codecs) throws Exception {
        long base = (System.currentTimeMillis() - 3_600_000L) / 1000 * 1000;
        StringBuilder out = new StringBuilder();
        for (String codec : codecs) {
            String topic = "java-times-" + codec;
            try (Admin admin = Admin.create(common(bootstrap))) {
                admin.createTopics(List.of(new NewTopic(topic, TIME_PARTITIONS, (short) 1))).all().get(60, TimeUnit.SECONDS);
            }
            Properties props = common(bootstrap);
            props.put("key.serializer", ByteArraySerializer.class.getName());
            props.put("value.serializer", ByteArraySerializer.class.getName());
            props.put("compression.type", codec);
            // Nothing leaves before the flush below, however slow the machine: one batch per
            // partition, so the records the test looks up sit inside batches, not at their edges.
            props.put("linger.ms", "60000");
            props.put("batch.size", "262144");
            List<TopicPartition> partitions = new ArrayList<>();
            for (int p = 0; p < TIME_PARTITIONS; p++) {
                partitions.add(new TopicPartition(topic, p));
            }
            try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
                List<java.util.concurrent.Future<RecordMetadata>> sent = new ArrayList<>();
                for (int i = 0; i < count; i++) {
                    for (int p = 0; p < TIME_PARTITIONS; p++) {
                        sent.add(producer.send(new ProducerRecord<>(topic, p, stamp(base, p, i), key(i).getBytes(),
                            value(codec, i, 100).getBytes())));
                    }
                }
                producer.flush();
                for (var future : sent) {
                    RecordMetadata metadata = future.get(60, TimeUnit.SECONDS);
                    out.append("sent ").append(codec).append(' ').append(metadata.partition()).append(' ')
                        .append(metadata.offset()).append(' ').append(metadata.timestamp()).append('\n');
                }
            }
            props = common(bootstrap);
            props.put("key.deserializer", ByteArrayDeserializer.class.getName());
            props.put("value.deserializer", ByteArrayDeserializer.class.getName());
            try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
                for (int i = 0; i <= count; i++) {
                    Map<TopicPartition, Long> query = new HashMap<>();
                    for (TopicPartition tp : partitions) {
                        int p = tp.partition();
                        query.put(tp, i < count ? stamp(base, p, i) - 5 : stamp(base, p, count - 1) + 1);
                    }
                    Map<TopicPartition, OffsetAndTimestamp> found = consumer.offsetsForTimes(query, DEADLINE);
                    for (TopicPartition tp : partitions) {
                        OffsetAndTimestamp at = found.get(tp);
                        out.append("found ").append(codec).append(' ').append(tp.partition()).append(' ')
                            .append(query.get(tp)).append(' ').append(at == null ? -1 : at.offset()).append(' ')
                            .append(at == null ? -1 : at.timestamp()).append('\n');
                    }
                }
            }
            try (Admin admin = Admin.create(common(bootstrap))) {
                Map<TopicPartition, OffsetSpec> specs = new HashMap<>();
                for (TopicPartition tp : partitions) {
                    specs.put(tp, OffsetSpec.maxTimestamp());
                }
                ListOffsetsResult result = admin.listOffsets(specs);
                for (TopicPartition tp : partitions) {
                    ListOffsetsResult.ListOffsetsResultInfo max = result.partitionResult(tp).get();
                    out.append("max ").append(codec).append(' ').append(tp.partition()).append(' ')
                        .append(max.offset()).append(' ').append(max.timestamp()).append('\n');
                }
            }
        }
        System.out.print(out);
    }
}
