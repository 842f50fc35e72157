/**
 * The console API's shapes. Endpoints the backend has published in
 * `crates/takhin-console/openapi.json` are aliases of the generated types
 * (`src/generated/`, never edited); the rest are written by hand from the
 * planned API, each to become an alias the same way once it is in the spec,
 * and the compiler then shows every place that disagrees.
 */
import type { components, operations } from '@/generated/client';

type Schemas = components['schemas'];

// --- Published in openapi.json --------------------------------------------

/**
 * RFC 9457 problem details, the body of every API error. `detail` is
 * optional here because the UI also makes problems for network failures.
 */
export type Problem = Omit<Schemas['Problem'], 'detail'> & { detail?: string; instance?: string };

export type Cluster = Schemas['ClusterSummary'];
export type LogDir = Schemas['LogDirView'];
export type Broker = Schemas['Broker'];
export type ClusterOverview = Schemas['Overview'];
/** A broker or topic config entry, with its default and synonyms. */
export type ConfigEntry = Schemas['Config'];
export type ConfigType = ConfigEntry['type'];
export type TopicSort = Schemas['TopicSort'];
export type SortOrder = Schemas['SortOrder'];
export type TopicListParams = NonNullable<operations['list_topics']['parameters']['query']>;
export type TopicSummary = Schemas['TopicSummary'];
export type TopicPage = Schemas['TopicPage'];
export type PartitionDetails = Schemas['PartitionDetails'];
export type TopicDetails = Schemas['TopicDetails'];
export type CreateTopicRequest = Schemas['CreateTopic'];
/** Incremental: keys in `set` change, keys in `delete` go back to their default. */
export type AlterConfigsRequest = Schemas['AlterConfigs'];
export type AddPartitionsRequest = Schemas['AddPartitions'];
export type DeleteRecordsRequest = Schemas['DeleteRecords'];
export type DeleteRecordsResult = Schemas['DeleteRecordsResult'];
export type Role = Schemas['Role'];
/** Who is calling; `auth_enabled: false` means every caller is an anonymous admin. */
export type Me = Schemas['Me'];
export type LoginRequest = Schemas['LoginRequest'];
export type LoginResponse = Schemas['LoginResponse'];

// --- Planned, not yet in openapi.json ---------------------------------------

export interface TopicConsumer {
  group_id: string;
  state: GroupState;
  members: number;
  total_lag: number;
  partitions?: { partition: number; committed_offset: number; end_offset: number; lag: number }[];
}

export type MessageStart = 'oldest' | 'newest' | 'offset' | 'timestamp';
export type Decoder = 'auto' | 'text' | 'json' | 'hex' | 'base64' | 'msgpack' | (string & {});

export interface MessageSearchParams {
  start: MessageStart;
  offset?: number;
  timestamp?: number;
  partition?: number;
  max: number;
  key_decoder?: Decoder;
  value_decoder?: Decoder;
  filter?: string;
  follow?: boolean;
}

/** One side (key or value) of a message, as the chosen decoder shows it. */
export interface DecodedPayload {
  /** The decoder that produced `text` (detected when `auto`; `base64` when the requested one failed). */
  encoding: string;
  /** What to show, at most 1 MiB. */
  text: string;
  /** The parsed value when `encoding` is `json` or `msgpack`. */
  json?: unknown;
  /** Size of the raw bytes. */
  size: number;
  /** Whether `text` was cut. */
  truncated: boolean;
  /** Why the requested decoder could not read the bytes. */
  error?: string;
}

export interface MessageHeader {
  key: string;
  value: string | null;
  value_encoding?: string;
}

export interface Message {
  partition: number;
  offset: number;
  timestamp: number;
  timestamp_type: 'CREATE_TIME' | 'LOG_APPEND_TIME' | (string & {});
  /** Null for a null key, or a null value (a tombstone). */
  key: DecodedPayload | null;
  value: DecodedPayload | null;
  headers: MessageHeader[];
  size_bytes: number;
  compression: string;
  is_transactional?: boolean;
  producer_id?: number;
}

export interface SearchProgress {
  scanned: number;
  matched: number;
  bytes: number;
  elapsed_ms: number;
  filter_errors?: number;
  last_filter_error?: string;
  undecodable_batches?: number;
  partitions?: { partition: number; position: number; end: number | null }[];
}

export type SearchDoneReason =
  | 'max_reached'
  | 'end_reached'
  | 'time_limit'
  | 'scan_limit'
  | 'filter_errors'
  | 'error'
  | 'cancelled'
  | (string & {});

/** The `done` event: why the search ended, and its final counts. */
export type SearchDone = SearchProgress & { reason: SearchDoneReason };

export type PayloadEncoding = 'text' | 'json' | 'base64' | 'hex' | 'null' | (string & {});

export interface ProduceRequest {
  partition?: number;
  key?: string | null;
  value?: string | null;
  headers?: MessageHeader[];
  compression?: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
  key_encoding: PayloadEncoding;
  value_encoding: PayloadEncoding;
}

export interface ProduceResponse {
  partition: number;
  offset: number;
}

export type GroupState =
  | 'Stable'
  | 'Empty'
  | 'Dead'
  | 'PreparingRebalance'
  | 'CompletingRebalance'
  | 'Assigning'
  | 'Reconciling'
  | 'Unknown'
  | (string & {});

export interface GroupSummary {
  group_id: string;
  state: GroupState;
  protocol_type: string;
  protocol: string;
  members: number;
  total_lag: number;
  coordinator: number;
}

export interface GroupMember {
  member_id: string;
  client_id: string;
  client_host: string;
  assignments: { topic: string; partitions: number[] }[];
}

export interface GroupOffset {
  topic: string;
  partition: number;
  committed_offset: number;
  end_offset: number;
  lag: number;
  metadata: string | null;
}

export interface GroupDetails {
  group_id: string;
  state: GroupState;
  members: GroupMember[];
  offsets: GroupOffset[];
}

export type ResetStrategy = 'earliest' | 'latest' | 'timestamp' | 'offset' | 'shift';

export interface ResetOffsetsRequest {
  topic: string;
  partitions?: number[];
  strategy: ResetStrategy;
  /** Epoch ms for `timestamp`, an offset for `offset`, a signed count for `shift`. */
  value?: number;
  dry_run: boolean;
}

export interface OffsetReset {
  topic: string;
  partition: number;
  previous_offset: number;
  new_offset: number;
}

export interface HealthSummary {
  status: string;
  version: string;
  uptime_seconds: number;
}
