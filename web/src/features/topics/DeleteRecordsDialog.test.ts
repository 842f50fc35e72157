import { describe, expect, it } from 'vitest';
import type { PartitionDetails } from '@/api/types';
import { deleteRecordsError } from './DeleteRecordsDialog';

const PARTITION: PartitionDetails = {
  partition: 0,
  leader: 1,
  leader_epoch: 0,
  replicas: [1],
  isr: [1],
  offline_replicas: [],
  log_start_offset: 100,
  high_watermark: 250,
};

describe('deleteRecordsError', () => {
  it('accepts an offset after the log start, up to the high watermark', () => {
    expect(deleteRecordsError('101', PARTITION)).toBeNull();
    expect(deleteRecordsError('250', PARTITION)).toBeNull();
  });

  it('explains an offset the cluster would refuse or that deletes nothing', () => {
    expect(deleteRecordsError('', PARTITION)).toBe('Enter an offset.');
    expect(deleteRecordsError('-1', PARTITION)).toBe('A whole number, 0 or more.');
    expect(deleteRecordsError('1.5', PARTITION)).toBe('A whole number, 0 or more.');
    expect(deleteRecordsError('251', PARTITION)).toBe('At most the high watermark, 250.');
    expect(deleteRecordsError('100', PARTITION)).toMatch(/^More than the log start, 100/);
  });
});
