// kafkajs (a pure JavaScript Kafka client, unmodified) as a group member.
//
//   NODE_PATH=$FJORD_NODE_PATH node e2e/node/kafkajs_client.js member 127.0.0.1:9092 TOPIC GROUP 6000 120
//
// member BOOTSTRAP TOPIC GROUP SESSION_MS SECONDS   one long-lived member of GROUP, as
//     e2e/src/members.rs drives it: prints each assignment change and each record as it
//     happens, commits after every batch it processed, and stops on SIGTERM, on stdin
//     closing, or after SECONDS:
//       assigned P,P,...   (the whole current assignment; empty while rebalancing)
//       record PARTITION OFFSET
//       stopped   (after leaving the group)
//
// It judges nothing itself. A client error ends the command with its name and message on
// stderr, status 1.
'use strict'

const { Kafka, logLevel } = require('kafkajs')

// Lines go to a pipe, which node writes synchronously on Linux: each is out when say returns.
const say = line => process.stdout.write(line + '\n')

function fail(error) {
  process.stderr.write(`error ${error.name}: ${error.message}\n`)
  process.exit(1)
}

async function member(bootstrap, topic, groupId, sessionMs, seconds) {
  const kafka = new Kafka({
    clientId: 'fjord-e2e-kafkajs',
    brokers: [bootstrap],
    logLevel: logLevel.ERROR,
  })
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: sessionMs,
    rebalanceTimeout: sessionMs,
    heartbeatInterval: Math.min(500, Math.floor(sessionMs / 3)),
    // kafkajs heartbeats between fetches: a short fetch wait lets it hear of a rebalance soon.
    maxWaitTimeInMs: 500,
  })
  const { GROUP_JOIN, REBALANCING, CRASH } = consumer.events
  consumer.on(GROUP_JOIN, ({ payload }) => {
    const partitions = [...(payload.memberAssignment[topic] || [])].sort((a, b) => a - b)
    say('assigned ' + partitions.join(','))
  })
  // kafkajs rebalances eagerly: every partition is given up until the next join.
  consumer.on(REBALANCING, () => say('assigned '))
  consumer.on(CRASH, ({ payload }) => {
    if (!payload.restart) fail(payload.error)
  })

  let stopping = false
  const stop = async () => {
    if (stopping) return
    stopping = true
    // Leaving the group waits for the batch in hand; bound it all the same.
    setTimeout(() => fail(new Error('the consumer did not disconnect within 30 s')), 30000).unref()
    await consumer.disconnect()
    say('stopped')
    process.exit(0)
  }
  process.on('SIGTERM', () => stop().catch(fail))
  process.stdin.on('end', () => stop().catch(fail))
  process.stdin.on('error', () => stop().catch(fail))
  process.stdin.resume()
  setTimeout(() => stop().catch(fail), seconds * 1000).unref()

  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, isRunning, isStale }) => {
      let next = null
      for (const message of batch.messages) {
        if (!isRunning() || isStale()) break
        say(`record ${batch.partition} ${message.offset}`)
        resolveOffset(message.offset)
        next = (BigInt(message.offset) + 1n).toString()
      }
      if (next !== null) {
        // A failure here (a rebalance took the partition) fails the batch: kafkajs rejoins
        // and the partition's owner reads the batch again.
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }])
      }
    },
  })
}

function main() {
  const [command, bootstrap, ...rest] = process.argv.slice(2)
  if (command !== 'member' || rest.length !== 4) {
    fail(new Error(`usage: member BOOTSTRAP TOPIC GROUP SESSION_MS SECONDS (got ${command})`))
  }
  member(bootstrap, rest[0], rest[1], Number(rest[2]), Number(rest[3])).catch(fail)
}

main()
