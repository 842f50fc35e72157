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
/** Throughput over the last hour; `available: false` when the console has no metrics source. */
export type Throughput = Schemas['Throughput'];
export type ThroughputPoint = Schemas['ThroughputPoint'];
/**
 * Damaged data in closed log segments and offline logs; `available: false`
 * when the console has no storage-health source (any cluster but the one
 * `takhin serve` runs).
 */
export type StorageHealth = Schemas['StorageHealth'];
export type PartitionDamage = Schemas['PartitionDamage'];
export type DamagedRange = Schemas['DamagedRangeView'];
/** What became of a damaged range's bytes: moved out by recovery, missing, or still served. */
export type DamageState = Schemas['DamageState'];
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

export type MessageStart = Schemas['StartFrom'];
/** Decoder names are open-ended: the schema-registry decoders add more. */
export type Decoder = 'auto' | 'text' | 'json' | 'hex' | 'base64' | 'msgpack' | (string & {});
export type MessageSearchParams = NonNullable<
  operations['search_messages']['parameters']['query']
> & {
  start: MessageStart;
  max: number;
};
/** One side (key or value) of a message, as the chosen decoder shows it. */
export type DecodedPayload = Schemas['DecodedView'];
export type MessageHeader = Schemas['HeaderView'];
/** Key and value are null for a null key, or a null value (a tombstone). */
export type Message = Schemas['SearchMessage'];
/** Counts of a running search (`progress` events). */
export type SearchProgress = Schemas['SearchStats'];
export type SearchDoneReason = Schemas['DoneReason'];
/** The `done` event: why the search ended, and its final counts. */
export type SearchDone = Schemas['SearchDone'];
/** An `error` event or 4xx answer about the filter, with where its syntax error is. */
export type FilterProblem = Schemas['FilterProblem'];
export type PayloadEncoding = Schemas['PayloadEncoding'];
export type CompressionName = Schemas['CompressionName'];
export type ProduceRequest = Schemas['ProduceMessage'];
export type ProduceResponse = Schemas['Produced'];

export type TopicConsumer = Schemas['TopicConsumer'];
/** Kafka's group states; open-ended because KIP-848 groups add their own. */
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
export type GroupType = Schemas['GroupType'];
export type GroupSummary = Schemas['GroupSummary'];
export type GroupMember = Schemas['GroupMember'];
export type GroupOffset = Schemas['GroupOffset'];
export type GroupDetails = Schemas['GroupDetails'];
export type ResetStrategy = Schemas['ResetStrategy'];
/** `value`: epoch ms for `timestamp`, an offset for `offset`, a signed count for `shift`. */
export type ResetOffsetsRequest = Schemas['ResetOffsetsRequest'];
export type OffsetReset = Schemas['OffsetReset'];

// --- Outside the console API ---------------------------------------------

/** `GET /api/health` (served by takhin itself, not part of openapi.json). */
export interface HealthSummary {
  status: string;
  version: string;
  uptime_seconds: number;
}
