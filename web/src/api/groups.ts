import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { clusterKeys } from './clusters';
import { apiRequest, segment } from './http';
import type { GroupDetails, GroupSummary, OffsetReset, ResetOffsetsRequest } from './types';

export const groupKeys = {
  all: (cluster: string) => [...clusterKeys.detail(cluster), 'groups'] as const,
  list: (cluster: string) => [...groupKeys.all(cluster), 'list'] as const,
  detail: (cluster: string, group: string) => [...groupKeys.all(cluster), 'detail', group] as const,
};

const groupsPath = (cluster: string) => `/clusters/${segment(cluster)}/groups`;
const groupPath = (cluster: string, group: string) => `${groupsPath(cluster)}/${segment(group)}`;

/** Lag moves all the time: these refresh on a timer while the page is open. */
const LAG_REFRESH_MS = 10_000;

export function useGroups(cluster: string) {
  return useQuery({
    queryKey: groupKeys.list(cluster),
    queryFn: ({ signal }) => apiRequest<GroupSummary[]>(groupsPath(cluster), { signal }),
    refetchInterval: LAG_REFRESH_MS,
  });
}

export function useGroup(cluster: string, group: string) {
  return useQuery({
    queryKey: groupKeys.detail(cluster, group),
    queryFn: ({ signal }) => apiRequest<GroupDetails>(groupPath(cluster, group), { signal }),
    refetchInterval: LAG_REFRESH_MS,
  });
}

export function useDeleteGroup(cluster: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (group: string) =>
      apiRequest<void>(groupPath(cluster, group), { method: 'DELETE' }),
    onSuccess: (_data, group) => {
      queryClient.removeQueries({ queryKey: groupKeys.detail(cluster, group) });
      return queryClient.invalidateQueries({ queryKey: groupKeys.list(cluster) });
    },
  });
}

/** A dry run changes nothing, so it invalidates nothing. */
export function useResetGroupOffsets(cluster: string, group: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (request: ResetOffsetsRequest) =>
      apiRequest<OffsetReset[]>(`${groupPath(cluster, group)}/reset-offsets`, {
        method: 'POST',
        body: request,
      }),
    onSuccess: (_data, request) => {
      if (request.dry_run) return;
      return Promise.all([
        queryClient.invalidateQueries({ queryKey: groupKeys.detail(cluster, group) }),
        queryClient.invalidateQueries({ queryKey: groupKeys.list(cluster) }),
      ]);
    },
  });
}

export function useDeleteGroupTopicOffsets(cluster: string, group: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (topic: string) =>
      apiRequest<void>(`${groupPath(cluster, group)}/topics/${segment(topic)}`, {
        method: 'DELETE',
      }),
    onSuccess: () =>
      Promise.all([
        queryClient.invalidateQueries({ queryKey: groupKeys.detail(cluster, group) }),
        queryClient.invalidateQueries({ queryKey: groupKeys.list(cluster) }),
      ]),
  });
}
