import { useParams } from 'react-router';

const LAST_CLUSTER_KEY = 'takhin.cluster';
/** Used only when the cluster list cannot be loaded and nothing was remembered. */
export const FALLBACK_CLUSTER = 'default';

/** The cluster in the URL; only valid under `/clusters/:cluster/...`. */
export function useCluster(): string {
  const { cluster } = useParams();
  if (cluster === undefined) throw new Error('useCluster used outside /clusters/:cluster');
  return cluster;
}

export function rememberCluster(cluster: string) {
  try {
    window.localStorage.setItem(LAST_CLUSTER_KEY, cluster);
  } catch {
    // Only a convenience; nothing to do without storage.
  }
}

export function lastCluster(): string | null {
  try {
    return window.localStorage.getItem(LAST_CLUSTER_KEY);
  } catch {
    return null;
  }
}

/** Paths inside one cluster, in one place so links never drift from routes. */
export const paths = {
  overview: (cluster: string) => `/clusters/${encodeURIComponent(cluster)}/overview`,
  topics: (cluster: string) => `/clusters/${encodeURIComponent(cluster)}/topics`,
  topic: (cluster: string, topic: string, tab: TopicTab = 'messages') =>
    `/clusters/${encodeURIComponent(cluster)}/topics/${encodeURIComponent(topic)}/${tab}`,
  groups: (cluster: string) => `/clusters/${encodeURIComponent(cluster)}/groups`,
  group: (cluster: string, group: string) =>
    `/clusters/${encodeURIComponent(cluster)}/groups/${encodeURIComponent(group)}`,
  brokers: (cluster: string) => `/clusters/${encodeURIComponent(cluster)}/brokers`,
  broker: (cluster: string, brokerId: number) =>
    `/clusters/${encodeURIComponent(cluster)}/brokers/${brokerId}`,
  settings: () => '/settings',
  login: () => '/login',
};

export const TOPIC_TABS = ['messages', 'partitions', 'configuration', 'consumers'] as const;
export type TopicTab = (typeof TOPIC_TABS)[number];
