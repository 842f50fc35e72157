import { useQuery } from '@tanstack/react-query';
import { ApiError } from './http';
import type { HealthSummary } from './types';

export const healthKeys = {
  summary: ['health'] as const,
};

/** `/api/health` is outside `/api/v1` and answers 503 with a body while starting. */
export function useHealth() {
  return useQuery({
    queryKey: healthKeys.summary,
    queryFn: async ({ signal }) => {
      const response = await fetch('/api/health', { signal });
      if (!response.headers.get('content-type')?.includes('json')) {
        throw new ApiError({ type: 'about:blank', title: 'No health', status: response.status });
      }
      return (await response.json()) as HealthSummary;
    },
    staleTime: 30_000,
  });
}
