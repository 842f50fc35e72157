/**
 * The console API's shapes, written by hand from the planned endpoints until
 * `crates/takhin-console/openapi.json` is checked in. Then each type here
 * becomes an alias of the generated one, e.g.
 * `export type TopicSummary = components['schemas']['TopicSummary']`,
 * and the compiler shows every place that disagrees.
 */

/** RFC 9457 problem details, the body of every API error. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  /** The Kafka error name (e.g. `TOPIC_ALREADY_EXISTS`) when one applies. */
  kafka_error?: string;
}

export interface Cluster {
  name: string;
  bootstrap_servers: string[];
  default: boolean;
}

export interface LogDir {
  path: string;
  size_bytes: number;
  error?: string | null;
}

export interface Broker {
  node_id: number;
  host: string;
  port: number;
  rack: string | null;
  is_controller: boolean;
  log_dirs: LogDir[];
}

export interface ClusterOverview {
  cluster_id: string;
  controller_id: number;
  brokers: Broker[];
  topic_count: number;
  partition_count: number;
  under_replicated_partitions: number;
  offline_partitions: number;
  total_size_bytes: number;
}

export type ConfigSource =
  | 'DYNAMIC_TOPIC_CONFIG'
  | 'DYNAMIC_BROKER_CONFIG'
  | 'DYNAMIC_DEFAULT_BROKER_CONFIG'
  | 'STATIC_BROKER_CONFIG'
  | 'DEFAULT_CONFIG'
  | 'UNKNOWN'
  | (string & {});

export type ConfigType =
  | 'BOOLEAN'
  | 'STRING'
  | 'INT'
  | 'SHORT'
  | 'LONG'
  | 'DOUBLE'
  | 'LIST'
  | 'CLASS'
  | 'PASSWORD'
  | 'UNKNOWN'
  | (string & {});

export interface ConfigEntry {
  name: string;
  value: string | null;
  source: ConfigSource;
  read_only: boolean;
  sensitive: boolean;
  is_default: boolean;
  documentation: string | null;
  type: ConfigType;
}

export type TopicSort = 'name' | 'partitions' | 'size' | 'messages';
export type SortOrder = 'asc' | 'desc';

export interface TopicListParams {
  search?: string;
  sort?: TopicSort;
  order?: SortOrder;
  page?: number;
  page_size?: number;
  include_internal?: boolean;
}

export interface TopicSummary {
  name: string;
  internal: boolean;
  partition_count: number;
  replication_factor: number;
  size_bytes: number;
  message_count: number;
  cleanup_policy: string;
}

export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  page_size: number;
}

export interface PartitionDetails {
  partition: number;
  leader: number;
  replicas: number[];
  isr: number[];
  offline_replicas: number[];
  log_start_offset: number;
  high_watermark: number;
  size_bytes: number;
}

export interface TopicDetails {
  name: string;
  topic_id: string;
  internal: boolean;
  partitions: PartitionDetails[];
  /** The few configs worth showing next to the name (cleanup.policy, retention.ms, ...). */
  configs?: Record<string, string | null>;
}

export interface CreateTopicRequest {
  name: string;
  partitions: number;
  replication_factor: number;
  configs: Record<string, string>;
}

/** Incremental: keys in `set` change, keys in `delete` go back to their default. */
export interface AlterConfigsRequest {
  set: Record<string, string>;
  delete: string[];
}

export interface DeleteRecordsRequest {
  partitions: { partition: number; offset: number }[];
}

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

export interface DecodedPayload {
  /** The decoder that produced `text` (detected when `auto`). */
  encoding: string;
  /** Null for a null key or value (a tombstone). */
  text: string | null;
  size: number;
}

export interface MessageHeader {
  key: string;
  value: string | null;
}

export interface Message {
  partition: number;
  offset: number;
  timestamp: number;
  timestamp_type: 'CREATE_TIME' | 'LOG_APPEND_TIME' | (string & {});
  key: DecodedPayload;
  value: DecodedPayload;
  headers: MessageHeader[];
  size_bytes: number;
  compression: string;
}

export interface SearchProgress {
  scanned: number;
  matched: number;
  bytes: number;
  elapsed_ms: number;
}

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

export type Role = 'admin' | 'read-only' | (string & {});

export interface Me {
  username: string | null;
  role: Role;
  auth_enabled: boolean;
}

export interface LoginRequest {
  username: string;
  password: string;
}

export interface HealthSummary {
  status: string;
  version: string;
  uptime_seconds: number;
}
