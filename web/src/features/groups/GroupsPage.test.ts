import { describe, expect, it } from 'vitest';
import type { GroupSummary } from '@/api/types';
import { filterGroups } from './GroupsPage';

const group = (group_id: string, state: string, total_lag: number | null): GroupSummary => ({
  group_id,
  state,
  total_lag,
  members: 1,
  protocol: 'range',
  protocol_type: 'consumer',
  coordinator: 1,
  type: 'classic',
});

describe('filterGroups', () => {
  const groups = [
    group('billing', 'Stable', 5),
    group('audit', 'Empty', null),
    group('orders', 'Stable', 50),
  ];

  it('filters by text and state', () => {
    const base = { q: '', state: '', sort: 'group_id' as const, order: 'asc' as const };
    expect(filterGroups(groups, { ...base, q: 'OR' }).map((g) => g.group_id)).toEqual(['orders']);
    expect(filterGroups(groups, { ...base, state: 'Stable' }).map((g) => g.group_id)).toEqual([
      'billing',
      'orders',
    ]);
  });

  it('sorts by lag with unknown lag last when descending', () => {
    const sorted = filterGroups(groups, { q: '', state: '', sort: 'total_lag', order: 'desc' });
    expect(sorted.map((g) => g.group_id)).toEqual(['orders', 'billing', 'audit']);
  });
});
