import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, mockFetch, problem } from '@/test/render';
import { ApiError, apiRequest, buildQuery, segment } from './http';

afterEach(() => vi.unstubAllGlobals());

describe('buildQuery', () => {
  it('leaves out empty values and keeps false and 0', () => {
    expect(buildQuery({ a: 1, b: undefined, c: '', d: null, e: false, f: 0 })).toBe(
      '?a=1&e=false&f=0',
    );
    expect(buildQuery({})).toBe('');
  });
});

describe('segment', () => {
  it('encodes what would break a path', () => {
    expect(segment('a/b c')).toBe('a%2Fb%20c');
  });
});

describe('apiRequest', () => {
  it('sends JSON and parses JSON', async () => {
    const { calls } = mockFetch({
      'POST /api/v1/things': ({ body }) => json({ echoed: body }, 201),
    });
    await expect(apiRequest('/things', { method: 'POST', body: { x: 1 } })).resolves.toEqual({
      echoed: { x: 1 },
    });
    expect(calls[0]?.body).toEqual({ x: 1 });
  });

  it('turns problem+json into an ApiError carrying the problem', async () => {
    mockFetch({
      'GET /api/v1/topics/t': () => problem(409, 'Conflict', 'Topic t already exists.'),
    });
    const error = await apiRequest('/topics/t').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(409);
    expect((error as ApiError).message).toBe('Topic t already exists.');
  });

  it('describes a non-JSON failure and a network failure', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => new Response('<html>', { status: 502, statusText: 'Bad Gateway' })),
    );
    await expect(apiRequest('/x')).rejects.toMatchObject({
      problem: { status: 502, title: 'Bad Gateway' },
    });
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => {
        throw new TypeError('Failed to fetch');
      }),
    );
    await expect(apiRequest('/x')).rejects.toMatchObject({
      problem: { status: 0, title: 'Network error' },
    });
  });

  it('returns undefined for 204', async () => {
    mockFetch({ 'DELETE /api/v1/x': () => new Response(null, { status: 204 }) });
    await expect(apiRequest('/x', { method: 'DELETE' })).resolves.toBeUndefined();
  });
});
