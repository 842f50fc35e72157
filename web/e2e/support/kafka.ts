import { Kafka, logLevel, Partitioners } from 'kafkajs';

/**
 * A real Kafka client (kafkajs, pure JavaScript) against the broker
 * e2e/run.mjs started, so the console is tested on data it did not write.
 */
export function kafka(): Kafka {
  const broker = process.env.TAKHIN_KAFKA;
  if (!broker) throw new Error('TAKHIN_KAFKA is not set: run the specs through e2e/run.mjs');
  return new Kafka({
    clientId: 'takhin-e2e',
    brokers: [broker],
    logLevel: logLevel.ERROR,
    retry: { retries: 5, initialRetryTime: 100 },
  });
}

export interface JsonMessage {
  key: string;
  value: Record<string, unknown>;
  partition: number;
  headers?: Record<string, string>;
}

/** Produces JSON values with keys and headers to the partitions given, acks=all. */
export async function produceJson(topic: string, messages: JsonMessage[]): Promise<void> {
  const producer = kafka().producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  try {
    await producer.send({
      topic,
      acks: -1,
      messages: messages.map((message) => ({
        key: message.key,
        value: JSON.stringify(message.value),
        partition: message.partition,
        headers: message.headers,
      })),
    });
  } finally {
    await producer.disconnect();
  }
}

const CONSUME_TIMEOUT_MS = 20_000;

/**
 * Joins `groupId`, reads `topic` from the beginning until `count` messages
 * arrived, commits each one's next offset, then leaves: the group is left
 * Empty with committed offsets, as a stopped application leaves it.
 */
export async function consumeAndCommit(topic: string, groupId: string, count: number) {
  const consumer = kafka().consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let seen = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`consumed ${seen} of ${count} messages of ${topic}`)),
        CONSUME_TIMEOUT_MS,
      );
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            await consumer.commitOffsets([
              { topic, partition, offset: String(Number(message.offset) + 1) },
            ]);
            seen += 1;
            if (seen === count) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
}
