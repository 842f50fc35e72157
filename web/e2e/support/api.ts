import type {
  ClusterOverview,
  ConfigEntry,
  CreateTopicRequest,
  GroupDetails,
  StorageHealth,
  TopicDetails,
} from '@/api/types';
import { baseUrl } from './browser';

/** The console's only cluster under `takhin serve`. */
export const CLUSTER = 'local';

/**
 * The console's REST API, for what a spec sets up, checks behind the UI's
 * back, or cleans up. The UI under test is never the only witness.
 */
export class ConsoleApi {
  private readonly root: string;

  /** `base`: the console's URL, the broker run.mjs started unless told otherwise. */
  constructor(private readonly base: string = baseUrl()) {
    this.root = `${base}/api/v1/clusters/${CLUSTER}`;
  }

  /** GET that answers the parsed body, or null for a 404. */
  private async get<T>(path: string): Promise<T | null> {
    const response = await fetch(`${this.root}${path}`, {
      headers: { Accept: 'application/json' },
    });
    if (response.status === 404) return null;
    if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  }

  private async send(method: 'POST' | 'DELETE', path: string, body?: unknown): Promise<Response> {
    return fetch(`${this.root}${path}`, {
      method,
      headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  overview(): Promise<ClusterOverview | null> {
    return this.get('/overview');
  }

  /** Sampled by `takhin serve` every few seconds; only the count of points matters here. */
  throughput(): Promise<{ available: boolean; points: unknown[] } | null> {
    return this.get('/throughput');
  }

  /** Damaged ranges the broker found (only a cluster Takhin runs has them). */
  storageHealth(topic?: string): Promise<StorageHealth | null> {
    return this.get(
      `/storage-health${topic === undefined ? '' : `?topic=${encodeURIComponent(topic)}`}`,
    );
  }

  async clusterBootstrapServers(): Promise<string[]> {
    const response = await fetch(`${this.base}/api/v1/clusters`);
    const clusters = (await response.json()) as { name: string; bootstrap_servers: string[] }[];
    return clusters.find((cluster) => cluster.name === CLUSTER)?.bootstrap_servers ?? [];
  }

  topic(name: string): Promise<TopicDetails | null> {
    return this.get(`/topics/${encodeURIComponent(name)}`);
  }

  async topicConfig(topic: string, name: string): Promise<ConfigEntry | undefined> {
    const entries = await this.get<ConfigEntry[]>(`/topics/${encodeURIComponent(topic)}/configs`);
    return entries?.find((entry) => entry.name === name);
  }

  group(id: string): Promise<GroupDetails | null> {
    return this.get(`/groups/${encodeURIComponent(id)}`);
  }

  /** Committed offset per partition of one topic, e.g. `{0: 4, 1: 4, 2: 4}`. */
  async committedOffsets(group: string, topic: string): Promise<Record<number, number>> {
    const details = await this.group(group);
    return Object.fromEntries(
      (details?.offsets ?? [])
        .filter((offset) => offset.topic === topic)
        .map((offset) => [offset.partition, offset.committed_offset]),
    );
  }

  async createTopic(request: CreateTopicRequest): Promise<void> {
    const response = await this.send('POST', '/topics', request);
    if (!response.ok) throw new Error(`create ${request.name}: ${response.status}`);
  }

  /** Cleanup: gone already is fine. */
  async deleteTopic(name: string): Promise<void> {
    const response = await this.send('DELETE', `/topics/${encodeURIComponent(name)}`);
    if (!response.ok && response.status !== 404) {
      throw new Error(`delete topic ${name}: ${response.status}`);
    }
  }

  /** Cleanup: gone already is fine. */
  async deleteGroup(id: string): Promise<void> {
    const response = await this.send('DELETE', `/groups/${encodeURIComponent(id)}`);
    if (!response.ok && response.status !== 404) {
      throw new Error(`delete group ${id}: ${response.status}`);
    }
  }
}

/** `<prefix>-<theme>-<random>`: runs and themes never collide on one broker. */
export function uniqueName(prefix: string, theme: string): string {
  return `${prefix}-${theme}-${Math.random().toString(36).slice(2, 8)}`;
}
