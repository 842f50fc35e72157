import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useCallback, useEffect, useRef, useState } from 'react';
import { API_BASE, ApiError, apiRequest, buildQuery, problemFrom, segment } from './http';
import { readServerSentEvents } from './sse';
import { topicKeys } from './topics';
import type {
  Message,
  MessageSearchParams,
  Problem,
  ProduceRequest,
  ProduceResponse,
  SearchDone,
  SearchDoneReason,
  SearchProgress,
} from './types';

/**
 * The most messages one search keeps in the browser. A live tail drops the
 * oldest past this, so a tab left open for hours stays responsive.
 */
export const MESSAGES_IN_MEMORY_MAX = 10_000;
/** Messages are appended to React state at most this often, not per event. */
const FLUSH_INTERVAL_MS = 100;

export type SearchStatus = 'idle' | 'running' | 'done' | 'stopped' | 'error';

export interface MessageSearchState {
  status: SearchStatus;
  messages: Message[];
  progress: SearchProgress | null;
  /** Why the last search ended (from its `done` event). */
  doneReason: SearchDoneReason | null;
  error: ApiError | null;
}

const IDLE: MessageSearchState = {
  status: 'idle',
  messages: [],
  progress: null,
  doneReason: null,
  error: null,
};

export function messagesUrl(cluster: string, topic: string, params: MessageSearchParams): string {
  const { filter, ...rest } = params;
  return (
    `${API_BASE}/clusters/${segment(cluster)}/topics/${segment(topic)}/messages` +
    buildQuery({ ...rest, filter: filter?.trim() ? filter : undefined })
  );
}

/** The server-side export of the same search, as a download link. */
export function exportUrl(
  cluster: string,
  topic: string,
  params: MessageSearchParams,
  format: 'jsonl' | 'csv',
): string {
  const { filter, follow: _follow, ...rest } = params;
  return (
    `${API_BASE}/clusters/${segment(cluster)}/topics/${segment(topic)}/messages/export` +
    buildQuery({ ...rest, filter: filter?.trim() ? filter : undefined, format })
  );
}

/**
 * Runs one streamed message search at a time (server-sent events: `message`,
 * `progress`, `done`, `error`). Starting a new search or unmounting aborts the
 * previous one, which closes the server's scan too.
 */
export function useMessageSearch(cluster: string, topic: string) {
  const [state, setState] = useState<MessageSearchState>(IDLE);
  const controller = useRef<AbortController | null>(null);

  const stop = useCallback(() => {
    controller.current?.abort();
    controller.current = null;
    setState((current) =>
      current.status === 'running' ? { ...current, status: 'stopped' } : current,
    );
  }, []);

  useEffect(() => () => controller.current?.abort(), []);

  const start = useCallback(
    (params: MessageSearchParams) => {
      controller.current?.abort();
      const abort = new AbortController();
      controller.current = abort;
      setState({ ...IDLE, status: 'running' });
      void runSearch(messagesUrl(cluster, topic, params), abort.signal, setState);
    },
    [cluster, topic],
  );

  return { ...state, start, stop };
}

async function runSearch(
  url: string,
  signal: AbortSignal,
  setState: (update: (current: MessageSearchState) => MessageSearchState) => void,
) {
  let pending: Message[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    setState((current) => ({ ...current, messages: appendCapped(current.messages, batch) }));
  };
  const timer = window.setInterval(flush, FLUSH_INTERVAL_MS);
  const finish = (status: SearchStatus, error: ApiError | null = null) => {
    flush();
    setState((current) => ({ ...current, status, error }));
  };
  try {
    const response = await fetch(url, { headers: { Accept: 'text/event-stream' }, signal });
    if (!response.ok) return finish('error', await problemFrom(response));
    if (!response.body) {
      return finish('error', streamProblem('The server sent no message stream.'));
    }
    for await (const event of readServerSentEvents(response.body, signal)) {
      switch (event.event) {
        case 'message':
          pending.push(JSON.parse(event.data) as Message);
          break;
        case 'progress': {
          const progress = JSON.parse(event.data) as SearchProgress;
          setState((current) => ({ ...current, progress }));
          break;
        }
        case 'done': {
          const done = JSON.parse(event.data) as SearchDone;
          setState((current) => ({ ...current, progress: done, doneReason: done.reason }));
          return finish('done');
        }
        case 'error':
          return finish('error', new ApiError(JSON.parse(event.data) as Problem));
        default:
          // keep-alive and future event kinds
          break;
      }
    }
    if (!signal.aborted) finish('done');
  } catch (error) {
    if (signal.aborted) return flush();
    finish('error', streamProblem(`The message stream broke: ${String(error)}`));
  } finally {
    window.clearInterval(timer);
  }
}

function streamProblem(detail: string): ApiError {
  return new ApiError({ type: 'about:blank', title: 'Search failed', status: 0, detail });
}

export function appendCapped<T>(current: T[], batch: T[], max = MESSAGES_IN_MEMORY_MAX): T[] {
  const next = current.concat(batch);
  return next.length > max ? next.slice(next.length - max) : next;
}

export function useProduceMessage(cluster: string, topic: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (request: ProduceRequest) =>
      apiRequest<ProduceResponse>(
        `/clusters/${segment(cluster)}/topics/${segment(topic)}/messages`,
        { method: 'POST', body: request },
      ),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: topicKeys.detail(cluster, topic) }),
  });
}
