import type { ConsoleApi } from './api';
import { consumeAndCommit, type JsonMessage, produceJson } from './kafka';

/**
 * A small, plausible cluster for the pages that summarise one (overview,
 * topics, groups) and for their screenshots: three topics with data, one
 * group caught up and one lagging. Made once per spec file, removed after.
 */
export const DEMO = {
  topics: [
    { name: 'orders', partitions: 6, messages: 120 },
    { name: 'payments', partitions: 3, messages: 40 },
    { name: 'customers', partitions: 1, messages: 20, configs: { 'cleanup.policy': 'compact' } },
  ],
  /** Read all of orders. */
  caughtUpGroup: 'shipping',
  /** Read payments, then payments got this many more. */
  laggingGroup: 'billing',
  lag: 15,
} as const;

function messagesFor(topic: string, partitions: number, count: number, from = 0): JsonMessage[] {
  return Array.from({ length: count }, (_, index) => {
    const n = from + index;
    return {
      key: `${topic}-${n}`,
      value: { id: n, topic, amount_cents: 500 + ((n * 137) % 10_000) },
      partition: n % partitions,
      headers: { source: 'takhin-e2e' },
    };
  });
}

export async function createDemoCluster(api: ConsoleApi): Promise<void> {
  for (const topic of DEMO.topics) {
    await api.createTopic({
      name: topic.name,
      partitions: topic.partitions,
      replication_factor: 1,
      configs: 'configs' in topic ? { ...topic.configs } : {},
    });
    await produceJson(topic.name, messagesFor(topic.name, topic.partitions, topic.messages));
  }
  const [orders, payments] = DEMO.topics;
  await consumeAndCommit(orders.name, DEMO.caughtUpGroup, orders.messages);
  await consumeAndCommit(payments.name, DEMO.laggingGroup, payments.messages);
  await produceJson(
    payments.name,
    messagesFor(payments.name, payments.partitions, DEMO.lag, payments.messages),
  );
}

export async function removeDemoCluster(api: ConsoleApi): Promise<void> {
  await api.deleteGroup(DEMO.caughtUpGroup);
  await api.deleteGroup(DEMO.laggingGroup);
  for (const topic of DEMO.topics) await api.deleteTopic(topic.name);
}
