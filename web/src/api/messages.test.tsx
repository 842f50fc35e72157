import { act, renderHook, waitFor } from '@testing-library/react';
import type { ReactNode } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mockFetch, Providers, problem, testQueryClient } from '@/test/render';
import { appendCapped, messagesUrl, useMessageSearch } from './messages';

afterEach(() => vi.unstubAllGlobals());

const wrapper = ({ children }: { children: ReactNode }) => (
  <Providers client={testQueryClient()}>{children}</Providers>
);

function sse(text: string): Response {
  return new Response(text, { status: 200, headers: { 'content-type': 'text/event-stream' } });
}

const message = (offset: number) => ({
  partition: 0,
  offset,
  timestamp: 1_700_000_000_000,
  timestamp_type: 'CREATE_TIME',
  key: { encoding: 'text', text: 'k', size: 1, truncated: false },
  value: { encoding: 'json', text: '{"a":1}', json: { a: 1 }, size: 7, truncated: false },
  headers: [],
  size_bytes: 80,
  compression: 'none',
});

describe('useMessageSearch', () => {
  it('collects messages and progress until done', async () => {
    const stream = [
      `event: message\ndata: ${JSON.stringify(message(0))}\n\n`,
      `event: message\ndata: ${JSON.stringify(message(1))}\n\n`,
      'event: progress\ndata: {"scanned":10,"matched":2,"bytes":160,"elapsed_ms":3}\n\n',
      'event: done\ndata: {"reason":"end_reached","scanned":12,"matched":2,"bytes":160,"elapsed_ms":4}\n\n',
    ].join('');
    const { calls } = mockFetch({ 'GET /api/v1/clusters/c/topics/t/messages': () => sse(stream) });
    const { result } = renderHook(() => useMessageSearch('c', 't'), { wrapper });
    act(() => result.current.start({ start: 'oldest', max: 10, filter: 'return true;' }));
    await waitFor(() => expect(result.current.status).toBe('done'));
    expect(result.current.messages.map((m) => m.offset)).toEqual([0, 1]);
    // The done event's counts are the final ones.
    expect(result.current.progress).toMatchObject({ scanned: 12, matched: 2 });
    expect(result.current.doneReason).toBe('end_reached');
    expect(calls[0]?.url.searchParams.get('filter')).toBe('return true;');
  });

  it('reports an error event and an HTTP failure as problems', async () => {
    mockFetch({
      'GET /api/v1/clusters/c/topics/t/messages': () =>
        sse(
          'event: error\ndata: {"type":"about:blank","title":"Filter failed","status":422,"detail":"x is not defined"}\n\n',
        ),
      'GET /api/v1/clusters/c/topics/missing/messages': () =>
        problem(404, 'Not Found', 'No topic missing.'),
    });
    const first = renderHook(() => useMessageSearch('c', 't'), { wrapper });
    act(() => first.result.current.start({ start: 'newest', max: 10 }));
    await waitFor(() => expect(first.result.current.status).toBe('error'));
    expect(first.result.current.error?.message).toBe('x is not defined');

    const second = renderHook(() => useMessageSearch('c', 'missing'), { wrapper });
    act(() => second.result.current.start({ start: 'newest', max: 10 }));
    await waitFor(() => expect(second.result.current.status).toBe('error'));
    expect(second.result.current.error?.status).toBe(404);
  });
});

describe('message search helpers', () => {
  it('caps what is kept in memory, dropping the oldest', () => {
    expect(appendCapped([1, 2, 3], [4, 5], 4)).toEqual([2, 3, 4, 5]);
  });

  it('leaves a blank filter out of the URL', () => {
    expect(messagesUrl('c', 'a b', { start: 'offset', offset: 5, max: 20, filter: '  ' })).toBe(
      '/api/v1/clusters/c/topics/a%20b/messages?start=offset&offset=5&max=20',
    );
  });
});
