import { screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { StorageHealth, TopicDetails } from '@/api/types';
import { json, mockFetch, renderRoute } from '@/test/render';
import PartitionsTab from './PartitionsTab';

afterEach(() => vi.unstubAllGlobals());

const partition = (index: number) => ({
  partition: index,
  leader: 1,
  leader_epoch: 0,
  replicas: [1],
  isr: [1],
  offline_replicas: [],
  log_start_offset: 0,
  high_watermark: 24,
  message_count: 24,
  size_bytes: 6000,
});

const TOPIC: TopicDetails = {
  name: 'ledger',
  topic_id: 'AAAAAAAAAAAAAAAAAAAAAA',
  internal: false,
  partition_count: 2,
  replication_factor: 1,
  cleanup_policy: 'delete',
  message_count: 48,
  size_bytes: 12_000,
  overrides: {},
  partitions: [partition(0), partition(1)],
};

const QUARANTINED = '/data/quarantine/ledger-0/00000000000000000004.log.0-263.damaged';

const DAMAGED: StorageHealth = {
  available: true,
  damaged_partition_count: 1,
  damaged_range_count: 2,
  truncated: false,
  offline_partitions: [],
  partitions: [
    {
      topic: 'ledger',
      partition: 0,
      damaged_ranges: [
        {
          file: '/data/ledger-0/00000000000000000004.log',
          position_bytes: 0,
          end_position_bytes: 263,
          first_offset: 4,
          end_offset: 5,
          reason: 'CRC mismatch: stored 0x1, computed 0x2',
          state: 'quarantined',
          quarantined_to: QUARANTINED,
        },
        {
          file: '/data/ledger-0/00000000000000000008.log',
          position_bytes: 0,
          end_position_bytes: 263,
          first_offset: 8,
          end_offset: 9,
          reason: 'CRC mismatch: stored 0x3, computed 0x4',
          state: 'served',
          quarantined_to: null,
        },
      ],
    },
  ],
};

const route = {
  path: '/clusters/:cluster/topics/:topic/partitions',
  url: '/clusters/local/topics/ledger/partitions',
};

function serve(health: StorageHealth) {
  return mockFetch({
    'GET /api/v1/clusters/local/topics/ledger': () => json(TOPIC),
    'GET /api/v1/clusters/local/storage-health': () => json(health),
  });
}

describe('PartitionsTab', () => {
  it('marks damaged partitions and lists each damaged range', async () => {
    const { calls } = serve(DAMAGED);
    renderRoute(<PartitionsTab />, route);
    const ranges = await screen.findByTestId('damaged-ranges-table');
    const partitions = screen.getByTestId('partitions-table');
    const [, first, second] = within(partitions).getAllByRole('row');
    expect(first).toHaveTextContent('damaged: 2 ranges');
    expect(second).not.toHaveTextContent('damaged');
    expect(screen.getByText('Damaged data: 2 ranges in 1 partition')).toBeVisible();

    const [, quarantined, served] = within(ranges).getAllByRole('row');
    expect(quarantined).toHaveTextContent('00000000000000000004.log');
    expect(quarantined).toHaveTextContent('bytes 0–263 (263 B)');
    expect(quarantined).toHaveTextContent('offset 4 lost');
    expect(quarantined).toHaveTextContent('CRC mismatch: stored 0x1');
    expect(quarantined).toHaveTextContent(
      'Moved out of the log by recovery; the bytes were kept in',
    );
    expect(within(ranges).getByText(QUARANTINED)).toBeVisible();
    expect(served).toHaveTextContent('offset 8 affected');
    expect(served).toHaveTextContent('Still served; a consumer reading it gets a CRC error.');
    // Only this topic's damage is asked for.
    const asked = calls.find((call) => call.url.pathname.endsWith('/storage-health'));
    expect(asked?.url.searchParams.get('topic')).toBe('ledger');
  });

  it('shows no damage for a healthy topic', async () => {
    serve({ ...DAMAGED, damaged_partition_count: 0, damaged_range_count: 0, partitions: [] });
    renderRoute(<PartitionsTab />, route);
    await screen.findByTestId('partitions-table');
    expect(screen.queryByTestId('damaged-ranges-table')).toBeNull();
    expect(screen.queryByText(/damaged/i)).toBeNull();
  });

  it('says storage health is only known for clusters Takhin runs', async () => {
    serve({
      available: false,
      damaged_partition_count: 0,
      damaged_range_count: 0,
      partitions: [],
      truncated: false,
      offline_partitions: [],
    });
    renderRoute(<PartitionsTab />, route);
    expect(
      await screen.findByText(
        'Damaged data in log segments is only known for clusters Takhin runs.',
      ),
    ).toBeVisible();
  });
});
