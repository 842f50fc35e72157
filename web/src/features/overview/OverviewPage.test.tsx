import { screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { storageHealthRefetchInterval, throughputRefetchInterval } from '@/api/clusters';
import type { ClusterOverview, StorageHealth, Throughput } from '@/api/types';
import { clockTicks } from '@/components/charts/TimeSeriesChart';
import { json, mockFetch, renderRoute } from '@/test/render';
import { volumeUsage } from './DiskUsage';
import OverviewPage from './OverviewPage';
import { THROUGHPUT_WINDOW_MS, throughputDomain } from './ThroughputCharts';

afterEach(() => vi.unstubAllGlobals());

const GIB = 1024 ** 3;

const OVERVIEW: ClusterOverview = {
  cluster_id: 'abc',
  controller_id: 1,
  brokers: [
    {
      node_id: 1,
      host: 'localhost',
      port: 9092,
      rack: null,
      is_controller: true,
      log_dirs: [
        {
          path: '/data/takhin',
          size_bytes: 3 * 1024 ** 2,
          total_bytes: 100 * GIB,
          usable_bytes: 5 * GIB,
          error: null,
        },
      ],
      log_dirs_error: null,
      leader_partitions: 3,
      replicas: 3,
    },
  ],
  topic_count: 2,
  internal_topic_count: 1,
  partition_count: 3,
  internal_partition_count: 50,
  under_replicated_partitions: 0,
  offline_partitions: 0,
  total_size_bytes: 3 * 1024 ** 2,
};

const route = { path: '/clusters/:cluster/overview', url: '/clusters/local/overview' };

function point(time_ms: number) {
  return {
    time_ms,
    bytes_in_per_sec: 2048,
    bytes_out_per_sec: 1024,
    records_in_per_sec: 10,
    requests_per_sec: 4,
  };
}

describe('OverviewPage', () => {
  it('says throughput is unavailable for a cluster without metrics', async () => {
    mockFetch({
      'GET /api/v1/clusters/local/overview': () => json(OVERVIEW),
      'GET /api/v1/clusters/local/throughput': () =>
        json({ available: false, interval_seconds: 5, points: [] } satisfies Throughput),
    });
    renderRoute(<OverviewPage />, route);
    const throughput = await screen.findByTestId('throughput');
    expect(
      await within(throughput).findAllByText('Throughput is unavailable for this cluster'),
    ).toHaveLength(2);
  });

  it('draws bytes and requests per second when the server has samples', async () => {
    const now = Date.now();
    mockFetch({
      'GET /api/v1/clusters/local/overview': () => json(OVERVIEW),
      'GET /api/v1/clusters/local/throughput': () =>
        json({
          available: true,
          interval_seconds: 5,
          points: [point(now - 5000), point(now)],
        } satisfies Throughput),
    });
    renderRoute(<OverviewPage />, route);
    expect(
      await screen.findByRole('figure', {
        name: 'Bytes in and out per second over the last hour',
      }),
    ).toHaveTextContent('Bytes out');
    expect(
      await screen.findByRole('figure', {
        name: 'Requests and records per second over the last hour',
      }),
    ).toHaveTextContent('Requests');
  });

  it('shows each log volume with how full it is', async () => {
    mockFetch({
      'GET /api/v1/clusters/local/overview': () => json(OVERVIEW),
      'GET /api/v1/clusters/local/throughput': () =>
        json({ available: true, interval_seconds: 5, points: [] } satisfies Throughput),
    });
    renderRoute(<OverviewPage />, route);
    expect(await screen.findByTestId('volume-usage')).toHaveTextContent(
      '95% · 95.0 GiB of 100 GiB used',
    );
    expect(within(screen.getByTestId('disk-usage-table')).getByText('3.0 MiB')).toBeVisible();
    expect(await screen.findAllByText('Collecting samples')).toHaveLength(2);
  });
});

const HEALTHY_STORAGE: StorageHealth = {
  available: true,
  damaged_partition_count: 0,
  damaged_range_count: 0,
  partitions: [],
  truncated: false,
  offline_partitions: [],
};

function damagedRange(first_offset: number, state: 'quarantined' | 'served') {
  return {
    file: `/data/t-0/${String(first_offset).padStart(20, '0')}.log`,
    position_bytes: 0,
    end_position_bytes: 263,
    first_offset,
    end_offset: first_offset + 1,
    reason: 'CRC mismatch',
    state,
    quarantined_to: state === 'quarantined' ? '/data/quarantine/t-0/x.damaged' : null,
  };
}

describe('OverviewPage storage health', () => {
  function serve(storage: StorageHealth) {
    mockFetch({
      'GET /api/v1/clusters/local/overview': () => json(OVERVIEW),
      'GET /api/v1/clusters/local/throughput': () =>
        json({ available: true, interval_seconds: 5, points: [] } satisfies Throughput),
      'GET /api/v1/clusters/local/storage-health': () => json(storage),
    });
  }

  it('warns about damaged ranges and links to each damaged topic', async () => {
    serve({
      ...HEALTHY_STORAGE,
      damaged_partition_count: 2,
      damaged_range_count: 3,
      partitions: [
        { topic: 'ledger', partition: 0, damaged_ranges: [damagedRange(4, 'quarantined')] },
        {
          topic: 'orders',
          partition: 2,
          damaged_ranges: [damagedRange(8, 'served'), damagedRange(12, 'served')],
        },
      ],
    });
    renderRoute(<OverviewPage />, route);
    const card = await screen.findByRole('region', {
      name: 'Damaged data: 3 damaged ranges in 2 partitions',
    });
    expect(card).toHaveTextContent('1 range moved out of the log by recovery');
    expect(card).toHaveTextContent(
      '2 ranges still served: consumers reading them get a CRC error.',
    );
    expect(within(card).getByRole('link', { name: 'ledger' })).toHaveAttribute(
      'href',
      '/clusters/local/topics/ledger/partitions',
    );
    expect(card).toHaveTextContent('orders · partition 2 · 2 damaged ranges');
    expect(await screen.findByText('Damaged data', { exact: true })).toBeVisible();
  });

  it('shows nothing alarming when no partition has damage', async () => {
    serve(HEALTHY_STORAGE);
    renderRoute(<OverviewPage />, route);
    expect(await screen.findByText('Healthy')).toBeVisible();
    await screen.findByTestId('throughput');
    expect(screen.queryByText(/damaged/i)).toBeNull();
    expect(screen.queryByTestId('storage-health-unavailable')).toBeNull();
  });

  it('says storage health is only known for clusters Takhin runs', async () => {
    serve({ ...HEALTHY_STORAGE, available: false });
    renderRoute(<OverviewPage />, route);
    expect(await screen.findByTestId('storage-health-unavailable')).toHaveTextContent(
      'only known for clusters Takhin runs',
    );
    expect(screen.getByText('Healthy')).toBeVisible();
  });
});

describe('storage health refetching', () => {
  it('refetches while a source answers, never when there is none', () => {
    expect(storageHealthRefetchInterval(undefined)).toBe(15_000);
    expect(storageHealthRefetchInterval(HEALTHY_STORAGE)).toBe(15_000);
    expect(storageHealthRefetchInterval({ ...HEALTHY_STORAGE, available: false })).toBe(false);
  });
});

describe('throughput helpers', () => {
  it('refetches once per server sample, and never when unavailable', () => {
    expect(throughputRefetchInterval(undefined)).toBe(5000);
    expect(throughputRefetchInterval({ available: true, interval_seconds: 10, points: [] })).toBe(
      10_000,
    );
    expect(throughputRefetchInterval({ available: false, interval_seconds: 5, points: [] })).toBe(
      false,
    );
  });

  it('shows the hour that ends at the newest point', () => {
    expect(throughputDomain([point(7_200_000)])).toEqual([
      7_200_000 - THROUGHPUT_WINDOW_MS,
      7_200_000,
    ]);
    expect(throughputDomain([], 5_000_000)).toEqual([5_000_000 - THROUGHPUT_WINDOW_MS, 5_000_000]);
  });

  it('puts axis ticks on whole ten minutes', () => {
    expect(clockTicks([0, 3_600_000])).toHaveLength(7);
    expect(clockTicks([1, 1_200_001])).toEqual([600_000, 1_200_000]);
  });

  it('reads a volume as used of total, when reported', () => {
    expect(
      volumeUsage({ path: '/d', size_bytes: 0, total_bytes: 100, usable_bytes: 25, error: null }),
    ).toEqual({ used: 75, total: 100, fraction: 0.75 });
    expect(
      volumeUsage({ path: '/d', size_bytes: 0, total_bytes: -1, usable_bytes: -1, error: null }),
    ).toBeNull();
    expect(volumeUsage({ path: '/d', size_bytes: 0, error: null })).toBeNull();
  });
});
