import { describe, expect, it } from 'vitest';
import type { DamagedRange, StorageHealth } from '@/api/types';
import { bytesText, damageSummary, fateText, fileName, isLost, offsetsText } from './damage';

const RANGE: DamagedRange = {
  file: '/data/ledger-0/00000000000000000004.log',
  position_bytes: 0,
  end_position_bytes: 148,
  first_offset: 4,
  end_offset: 5,
  reason: 'CRC mismatch',
  state: 'served',
  quarantined_to: null,
};

describe('damaged ranges for people', () => {
  it('names the offsets the range covers, its end being exclusive', () => {
    expect(offsetsText(RANGE)).toBe('offset 4');
    expect(offsetsText({ ...RANGE, end_offset: 8 })).toBe('offsets 4–7');
    expect(offsetsText({ ...RANGE, end_offset: 4 })).toBe('no offsets');
  });

  it('shows where the bytes were and what became of them', () => {
    expect(bytesText({ ...RANGE, position_bytes: 1024, end_position_bytes: 2048 })).toBe(
      'bytes 1,024–2,048 (1.0 KiB)',
    );
    expect(fileName(RANGE.file)).toBe('00000000000000000004.log');
    expect(isLost(RANGE)).toBe(false);
    expect(fateText(RANGE)).toBe('Still served; a consumer reading it gets a CRC error.');
    expect(isLost({ ...RANGE, state: 'quarantined' })).toBe(true);
    expect(isLost({ ...RANGE, state: 'missing' })).toBe(true);
    expect(fateText({ ...RANGE, state: 'quarantined', quarantined_to: '/q/x.damaged' })).toBe(
      'Moved out of the log by recovery; the bytes were kept in',
    );
    expect(fateText({ ...RANGE, state: 'quarantined' })).toBe(
      'Moved out of the log by recovery; no copy was kept (no room on the disk).',
    );
  });

  it('counts in singular and plural', () => {
    const health = (ranges: number, partitions: number): StorageHealth => ({
      available: true,
      damaged_range_count: ranges,
      damaged_partition_count: partitions,
      partitions: [],
      truncated: false,
      offline_partitions: [],
    });
    expect(damageSummary(health(1, 1))).toBe('1 damaged range in 1 partition');
    expect(damageSummary(health(3, 2))).toBe('3 damaged ranges in 2 partitions');
  });
});
