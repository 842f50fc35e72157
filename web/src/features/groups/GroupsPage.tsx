import { SearchIcon } from 'lucide-react';
import { useMemo } from 'react';
import { Link } from 'react-router';
import { useGroups } from '@/api/groups';
import type { GroupSummary, SortOrder } from '@/api/types';
import { PageHeader } from '@/components/page-header';
import { SortableHeader } from '@/components/sortable-header';
import { EmptyState, QueryView } from '@/components/states';
import { Input, NativeSelect } from '@/components/ui/input';
import {
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableHeader,
  TableRow,
} from '@/components/ui/table';
import { paths, useCluster } from '@/lib/cluster';
import { formatNumber } from '@/lib/format';
import { useUrlState } from '@/lib/url-state';
import { GroupStateBadge } from './GroupStateBadge';

type GroupSort = 'group_id' | 'state' | 'members' | 'total_lag';

const URL_DEFAULTS = { q: '', state: '', sort: 'group_id' as GroupSort, order: 'asc' as SortOrder };

/** The list endpoint is not paged (clusters have hundreds of groups, not millions): filter and sort here. */
export function filterGroups(
  groups: GroupSummary[],
  { q, state, sort, order }: typeof URL_DEFAULTS,
): GroupSummary[] {
  const needle = q.trim().toLowerCase();
  const direction = order === 'asc' ? 1 : -1;
  return groups
    .filter(
      (group) =>
        (needle === '' || group.group_id.toLowerCase().includes(needle)) &&
        (state === '' || group.state === state),
    )
    .sort((a, b) => {
      const left = a[sort] ?? -1;
      const right = b[sort] ?? -1;
      const compared =
        typeof left === 'number' && typeof right === 'number'
          ? left - right
          : String(left).localeCompare(String(right));
      return compared * direction;
    });
}

export default function GroupsPage() {
  const cluster = useCluster();
  const groups = useGroups(cluster);
  const [filters, setFilters] = useUrlState(URL_DEFAULTS);
  const visible = useMemo(() => filterGroups(groups.data ?? [], filters), [groups.data, filters]);
  const states = useMemo(
    () => [...new Set((groups.data ?? []).map((group) => group.state))].sort(),
    [groups.data],
  );
  const onSort = (sort: GroupSort, order: SortOrder) => setFilters({ sort, order });

  return (
    <div className="space-y-6">
      <PageHeader
        title="Consumer groups"
        description={groups.data ? `${formatNumber(groups.data.length)} groups` : undefined}
      />
      <div className="flex flex-wrap items-center gap-4">
        <div className="relative w-full max-w-sm">
          <SearchIcon
            className="pointer-events-none absolute top-2.5 left-3 size-4 text-muted-foreground"
            aria-hidden="true"
          />
          <Input
            type="search"
            aria-label="Search groups"
            placeholder="Search groups…"
            className="pl-9"
            value={filters.q}
            onChange={(event) => setFilters({ q: event.target.value }, { replace: true })}
          />
        </div>
        <NativeSelect
          aria-label="State"
          value={filters.state}
          onChange={(event) => setFilters({ state: event.target.value })}
        >
          <option value="">All states</option>
          {states.map((state) => (
            <option key={state} value={state}>
              {state}
            </option>
          ))}
        </NativeSelect>
      </div>
      <QueryView query={groups}>
        {(all) =>
          visible.length === 0 ? (
            <EmptyState
              title={all.length === 0 ? 'No consumer groups' : 'No groups match'}
              description={
                all.length === 0
                  ? 'Groups appear once a consumer joins one or commits offsets.'
                  : undefined
              }
            />
          ) : (
            <Table>
              <TableHeader>
                <TableRow>
                  <SortableHeader
                    label="Group"
                    sortKey="group_id"
                    sort={filters.sort}
                    order={filters.order}
                    onSort={onSort}
                  />
                  <SortableHeader
                    label="State"
                    sortKey="state"
                    sort={filters.sort}
                    order={filters.order}
                    onSort={onSort}
                  />
                  <TableHead>Protocol</TableHead>
                  <SortableHeader
                    label="Members"
                    sortKey="members"
                    sort={filters.sort}
                    order={filters.order}
                    onSort={onSort}
                    className="text-right"
                  />
                  <SortableHeader
                    label="Lag"
                    sortKey="total_lag"
                    sort={filters.sort}
                    order={filters.order}
                    onSort={onSort}
                    className="text-right"
                  />
                  <TableHead className="text-right">Coordinator</TableHead>
                </TableRow>
              </TableHeader>
              <TableBody>
                {visible.map((group) => (
                  <TableRow key={group.group_id}>
                    <TableCell>
                      <Link
                        to={paths.group(cluster, group.group_id)}
                        className="font-medium text-primary hover:underline"
                      >
                        {group.group_id}
                      </Link>
                    </TableCell>
                    <TableCell>
                      <GroupStateBadge state={group.state} />
                    </TableCell>
                    <TableCell className="text-muted-foreground">
                      {[group.type, group.protocol_type, group.protocol]
                        .filter(Boolean)
                        .join(' / ') || '—'}
                    </TableCell>
                    <TableCell className="text-right tabular-nums">
                      {formatNumber(group.members)}
                    </TableCell>
                    <TableCell className="text-right tabular-nums">
                      {formatNumber(group.total_lag)}
                    </TableCell>
                    <TableCell className="text-right tabular-nums">{group.coordinator}</TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          )
        }
      </QueryView>
    </div>
  );
}
