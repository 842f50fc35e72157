import { act, renderHook, waitFor } from '@testing-library/react';
import type { ReactNode } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, mockFetch, Providers, testQueryClient } from '@/test/render';
import { topicKeys, useCreateTopic, useTopics } from './topics';

afterEach(() => vi.unstubAllGlobals());

describe('topic hooks', () => {
  it('keys lists under the cluster so one invalidation reaches every page and sort', () => {
    const list = topicKeys.list('c', { page: 2 });
    expect(list.slice(0, topicKeys.lists('c').length)).toEqual([...topicKeys.lists('c')]);
    expect(topicKeys.detail('c', 't').slice(0, 3)).toEqual([...topicKeys.all('c')]);
  });

  it('creating a topic refetches the topic lists', async () => {
    let listed = 0;
    const { calls } = mockFetch({
      'GET /api/v1/clusters/c/topics': () => {
        listed += 1;
        return json({ items: [], total: 0, page: 1, page_size: 50 });
      },
      'POST /api/v1/clusters/c/topics': ({ body }) => json(body, 201),
    });
    const client = testQueryClient();
    const wrapper = ({ children }: { children: ReactNode }) => (
      <Providers client={client}>{children}</Providers>
    );
    const { result } = renderHook(
      () => ({ list: useTopics('c', {}), create: useCreateTopic('c') }),
      { wrapper },
    );
    await waitFor(() => expect(result.current.list.isSuccess).toBe(true));
    expect(listed).toBe(1);
    await act(() =>
      result.current.create.mutateAsync({
        name: 'new',
        partitions: 3,
        replication_factor: 1,
        configs: {},
      }),
    );
    await waitFor(() => expect(listed).toBe(2));
    expect(calls.find((call) => call.method === 'POST')?.body).toMatchObject({
      name: 'new',
      partitions: 3,
    });
  });
});
