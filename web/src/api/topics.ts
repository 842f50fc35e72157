import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { clusterKeys } from './clusters';
import { apiRequest, segment } from './http';
import type {
  AddPartitionsRequest,
  AlterConfigsRequest,
  ConfigEntry,
  CreateTopicRequest,
  DeleteRecordsRequest,
  DeleteRecordsResult,
  TopicConsumer,
  TopicDetails,
  TopicListParams,
  TopicPage,
} from './types';

export const topicKeys = {
  all: (cluster: string) => [...clusterKeys.detail(cluster), 'topics'] as const,
  lists: (cluster: string) => [...topicKeys.all(cluster), 'list'] as const,
  list: (cluster: string, params: TopicListParams) =>
    [...topicKeys.lists(cluster), params] as const,
  detail: (cluster: string, topic: string) => [...topicKeys.all(cluster), 'detail', topic] as const,
  configs: (cluster: string, topic: string) =>
    [...topicKeys.detail(cluster, topic), 'configs'] as const,
  consumers: (cluster: string, topic: string) =>
    [...topicKeys.detail(cluster, topic), 'consumers'] as const,
};

const topicsPath = (cluster: string) => `/clusters/${segment(cluster)}/topics`;
const topicPath = (cluster: string, topic: string) => `${topicsPath(cluster)}/${segment(topic)}`;

export function useTopics(cluster: string, params: TopicListParams) {
  return useQuery({
    queryKey: topicKeys.list(cluster, params),
    queryFn: ({ signal }) =>
      apiRequest<TopicPage>(topicsPath(cluster), {
        signal,
        query: { ...params },
      }),
    // Keep the table on screen while the next page or sort loads.
    placeholderData: keepPreviousData,
  });
}

export function useTopic(cluster: string, topic: string) {
  return useQuery({
    queryKey: topicKeys.detail(cluster, topic),
    queryFn: ({ signal }) => apiRequest<TopicDetails>(topicPath(cluster, topic), { signal }),
  });
}

export function useTopicConfigs(cluster: string, topic: string) {
  return useQuery({
    queryKey: topicKeys.configs(cluster, topic),
    queryFn: ({ signal }) =>
      apiRequest<ConfigEntry[]>(`${topicPath(cluster, topic)}/configs`, { signal }),
  });
}

export function useTopicConsumers(cluster: string, topic: string) {
  return useQuery({
    queryKey: topicKeys.consumers(cluster, topic),
    queryFn: ({ signal }) =>
      apiRequest<TopicConsumer[]>(`${topicPath(cluster, topic)}/consumers`, { signal }),
    refetchInterval: 10_000,
  });
}

/** Topic counts and sizes show on the overview too, so it is refreshed with the lists. */
function useInvalidateTopics(cluster: string) {
  const queryClient = useQueryClient();
  return (topic?: string) =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: topicKeys.lists(cluster) }),
      queryClient.invalidateQueries({ queryKey: clusterKeys.overview(cluster) }),
      topic === undefined
        ? Promise.resolve()
        : queryClient.invalidateQueries({ queryKey: topicKeys.detail(cluster, topic) }),
    ]);
}

export function useCreateTopic(cluster: string) {
  const invalidate = useInvalidateTopics(cluster);
  return useMutation({
    mutationFn: (request: CreateTopicRequest) =>
      apiRequest<TopicDetails>(topicsPath(cluster), { method: 'POST', body: request }),
    onSuccess: () => invalidate(),
  });
}

export function useDeleteTopic(cluster: string) {
  const queryClient = useQueryClient();
  const invalidate = useInvalidateTopics(cluster);
  return useMutation({
    mutationFn: (topic: string) =>
      apiRequest<void>(topicPath(cluster, topic), { method: 'DELETE' }),
    onSuccess: (_data, topic) => {
      queryClient.removeQueries({ queryKey: topicKeys.detail(cluster, topic) });
      return invalidate();
    },
  });
}

export function useAlterTopicConfigs(cluster: string, topic: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (request: AlterConfigsRequest) =>
      apiRequest<ConfigEntry[]>(`${topicPath(cluster, topic)}/configs`, {
        method: 'PATCH',
        body: request,
      }),
    onSuccess: () =>
      Promise.all([
        queryClient.invalidateQueries({ queryKey: topicKeys.detail(cluster, topic) }),
        // cleanup.policy is a column of the list.
        queryClient.invalidateQueries({ queryKey: topicKeys.lists(cluster) }),
      ]),
  });
}

export function useAddPartitions(cluster: string, topic: string) {
  const invalidate = useInvalidateTopics(cluster);
  return useMutation({
    mutationFn: (count: number) =>
      apiRequest<TopicDetails>(`${topicPath(cluster, topic)}/partitions`, {
        method: 'POST',
        body: { count } satisfies AddPartitionsRequest,
      }),
    onSuccess: () => invalidate(topic),
  });
}

export function useDeleteRecords(cluster: string, topic: string) {
  const invalidate = useInvalidateTopics(cluster);
  return useMutation({
    mutationFn: (request: DeleteRecordsRequest) =>
      apiRequest<DeleteRecordsResult[]>(`${topicPath(cluster, topic)}/delete-records`, {
        method: 'POST',
        body: request,
      }),
    onSuccess: () => invalidate(topic),
  });
}

export function useEmptyTopic(cluster: string, topic: string) {
  const invalidate = useInvalidateTopics(cluster);
  return useMutation({
    mutationFn: () =>
      apiRequest<DeleteRecordsResult[]>(`${topicPath(cluster, topic)}/empty`, { method: 'POST' }),
    onSuccess: () => invalidate(topic),
  });
}
