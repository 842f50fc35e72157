import type { Problem } from './types';

/** Every API path is under this prefix; the dev server proxies it to takhin. */
export const API_BASE = '/api/v1';
/** The API's Swagger UI, served by takhin itself (crates/takhin-console/src/api/docs.rs). */
export const API_DOCS_PATH = '/api/docs';
/** The OpenAPI document the docs and `src/generated/` come from. */
export const OPENAPI_PATH = `${API_BASE}/openapi.json`;

/**
 * An API call that failed: either the server's problem+json, or a problem
 * made up here for network failures and non-JSON answers, so the UI has one
 * shape to show.
 */
export class ApiError extends Error {
  readonly problem: Problem;

  constructor(problem: Problem) {
    super(problem.detail ?? problem.title);
    this.name = 'ApiError';
    this.problem = problem;
  }

  get status(): number {
    return this.problem.status;
  }
}

export function isApiError(error: unknown): error is ApiError {
  return error instanceof ApiError;
}

export type QueryValue = string | number | boolean | null | undefined;

/** `{a: 1, b: undefined, c: ''}` -> `?a=1`; empty values are left out. */
export function buildQuery(query: Record<string, QueryValue> | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue;
    params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** Encodes one path segment: topic names may hold dots, group ids anything. */
export function segment(value: string | number): string {
  return encodeURIComponent(String(value));
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  query?: Record<string, QueryValue>;
  body?: unknown;
  signal?: AbortSignal;
}

export async function apiRequest<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const { method = 'GET', query, body, signal } = options;
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(`${API_BASE}${path}${buildQuery(query)}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      credentials: 'same-origin',
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new ApiError({
      type: 'about:blank',
      title: 'Network error',
      status: 0,
      detail: `Could not reach the console API (${String(error)}).`,
    });
  }
  if (!response.ok) throw await problemFrom(response);
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Reads the problem+json body of a failed response, or describes the failure. */
export async function problemFrom(response: Response): Promise<ApiError> {
  const fallback: Problem = {
    type: 'about:blank',
    title: response.statusText || `HTTP ${response.status}`,
    status: response.status,
  };
  const contentType = response.headers.get('content-type') ?? '';
  if (!contentType.includes('json')) return new ApiError(fallback);
  try {
    const body = (await response.json()) as Partial<Problem>;
    return new ApiError({
      ...fallback,
      ...body,
      title: body.title ?? fallback.title,
      status: body.status ?? response.status,
    });
  } catch {
    return new ApiError(fallback);
  }
}
