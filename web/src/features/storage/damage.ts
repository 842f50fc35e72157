import type { DamagedRange, PartitionDamage, StorageHealth } from '@/api/types';
import { formatBytes, formatNumber } from '@/lib/format';

/** "1 damaged range" / "3 damaged ranges". */
export function plural(count: number, one: string, many = `${one}s`): string {
  return `${formatNumber(count)} ${count === 1 ? one : many}`;
}

/** The overview card's headline: "3 damaged ranges in 2 partitions". */
export function damageSummary(health: StorageHealth): string {
  return `${plural(health.damaged_range_count, 'damaged range')} in ${plural(
    health.damaged_partition_count,
    'partition',
  )}`;
}

/** Damaged partitions grouped by topic, topics in the API's order (by name). */
export function damageByTopic(partitions: PartitionDamage[]): Map<string, PartitionDamage[]> {
  const byTopic = new Map<string, PartitionDamage[]>();
  for (const partition of partitions) {
    const list = byTopic.get(partition.topic) ?? [];
    list.push(partition);
    byTopic.set(partition.topic, list);
  }
  return byTopic;
}

/** Bytes moved out (quarantined) or missing are gone for consumers; served bytes fail their CRC check. */
export function isLost(range: DamagedRange): boolean {
  return range.state !== 'served';
}

/** `[first_offset, end_offset)` for people: "offset 4", "offsets 4–7", or "no offsets". */
export function offsetsText(range: DamagedRange): string {
  const last = range.end_offset - 1;
  if (last < range.first_offset) return 'no offsets';
  if (last === range.first_offset) return `offset ${formatNumber(range.first_offset)}`;
  return `offsets ${formatNumber(range.first_offset)}–${formatNumber(last)}`;
}

/** "bytes 0–148 (148 B)" of the segment file; the end is exclusive. */
export function bytesText(range: DamagedRange): string {
  const size = range.end_position_bytes - range.position_bytes;
  return `bytes ${formatNumber(range.position_bytes)}–${formatNumber(range.end_position_bytes)} (${formatBytes(size)})`;
}

/** The file name of a segment path, for a narrow column (the full path is in its title). */
export function fileName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** What became of the bytes, in one sentence (the path, when there is one, is shown apart). */
export function fateText(range: DamagedRange): string {
  switch (range.state) {
    case 'quarantined':
      return range.quarantined_to
        ? 'Moved out of the log by recovery; the bytes were kept in'
        : 'Moved out of the log by recovery; no copy was kept (no room on the disk).';
    case 'missing':
      return 'Missing at the end of the segment; there were no bytes to keep.';
    case 'served':
      return 'Still served; a consumer reading it gets a CRC error.';
  }
}
