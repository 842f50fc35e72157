import { queryOptions, useQuery } from '@tanstack/react-query';
import { apiRequest, segment } from './http';
import type {
  Broker,
  Cluster,
  ClusterOverview,
  ConfigEntry,
  StorageHealth,
  Throughput,
} from './types';

export const clusterKeys = {
  all: ['clusters'] as const,
  list: () => [...clusterKeys.all, 'list'] as const,
  detail: (cluster: string) => [...clusterKeys.all, cluster] as const,
  overview: (cluster: string) => [...clusterKeys.detail(cluster), 'overview'] as const,
  brokerConfigs: (cluster: string, brokerId: number) =>
    [...clusterKeys.detail(cluster), 'brokers', brokerId, 'configs'] as const,
  throughput: (cluster: string) => [...clusterKeys.detail(cluster), 'throughput'] as const,
  /** `topic` narrows it to one topic's partitions (the topic page). */
  storageHealth: (cluster: string, topic?: string) =>
    [...clusterKeys.detail(cluster), 'storage-health', topic ?? null] as const,
};

export function fetchClusters(signal?: AbortSignal) {
  return apiRequest<Cluster[]>('/clusters', { signal });
}

export function useClusters() {
  return useQuery({
    queryKey: clusterKeys.list(),
    queryFn: ({ signal }) => fetchClusters(signal),
    staleTime: 60_000,
  });
}

/** The cluster to open when the URL names none: the default one, else the first. */
export function defaultCluster(clusters: Cluster[] | undefined): Cluster | undefined {
  return clusters?.find((cluster) => cluster.default) ?? clusters?.[0];
}

/** Shared by the overview and brokers pages: one request, one cache entry. */
export function clusterOverviewQuery(cluster: string) {
  return queryOptions({
    queryKey: clusterKeys.overview(cluster),
    queryFn: ({ signal }) =>
      apiRequest<ClusterOverview>(`/clusters/${segment(cluster)}/overview`, { signal }),
    refetchInterval: 15_000,
  });
}

export function useClusterOverview(cluster: string) {
  return useQuery(clusterOverviewQuery(cluster));
}

export function useBrokers(cluster: string) {
  return useQuery({
    ...clusterOverviewQuery(cluster),
    select: (overview): Broker[] => overview.brokers,
  });
}

export function useBrokerConfigs(cluster: string, brokerId: number) {
  return useQuery({
    queryKey: clusterKeys.brokerConfigs(cluster, brokerId),
    queryFn: ({ signal }) =>
      apiRequest<ConfigEntry[]>(`/clusters/${segment(cluster)}/brokers/${brokerId}/configs`, {
        signal,
      }),
    enabled: Number.isInteger(brokerId),
  });
}

/** Used before the first answer says how often the server samples. */
const THROUGHPUT_REFRESH_DEFAULT_MS = 5_000;

/**
 * How often to refetch throughput: once per server sample, so each refetch
 * brings one new point. Never when the cluster has no metrics source (a
 * `takhin console` against Apache Kafka): that does not change while the
 * server runs.
 */
export function throughputRefetchInterval(data: Throughput | undefined): number | false {
  if (data === undefined) return THROUGHPUT_REFRESH_DEFAULT_MS;
  if (!data.available) return false;
  return Math.max(1, data.interval_seconds) * 1000;
}

export function useThroughput(cluster: string) {
  return useQuery({
    queryKey: clusterKeys.throughput(cluster),
    queryFn: ({ signal }) =>
      apiRequest<Throughput>(`/clusters/${segment(cluster)}/throughput`, { signal }),
    refetchInterval: (query) => throughputRefetchInterval(query.state.data),
  });
}

/** The scrubber finds damage while the broker runs: look again as often as the overview does. */
const STORAGE_HEALTH_REFRESH_MS = 15_000;

/**
 * How often to refetch storage health; never when the cluster has no source
 * (a `takhin console` against Apache Kafka): that does not change while the
 * server runs.
 */
export function storageHealthRefetchInterval(data: StorageHealth | undefined): number | false {
  return data !== undefined && !data.available ? false : STORAGE_HEALTH_REFRESH_MS;
}

/** Damaged ranges and offline logs of the cluster, or of one topic when `topic` is given. */
export function useStorageHealth(cluster: string, topic?: string) {
  return useQuery({
    queryKey: clusterKeys.storageHealth(cluster, topic),
    queryFn: ({ signal }) =>
      apiRequest<StorageHealth>(`/clusters/${segment(cluster)}/storage-health`, {
        signal,
        query: { topic },
      }),
    refetchInterval: (query) => storageHealthRefetchInterval(query.state.data),
  });
}
