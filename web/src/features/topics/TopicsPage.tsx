import { PlusIcon, SearchIcon } from 'lucide-react';
import { useEffect, useState } from 'react';
import { Link } from 'react-router';
import { useTopics } from '@/api/topics';
import type { SortOrder, TopicSort } from '@/api/types';
import { PageHeader } from '@/components/page-header';
import { Pagination } from '@/components/pagination';
import { SortableHeader } from '@/components/sortable-header';
import { EmptyState, ErrorState, TableSkeleton } from '@/components/states';
import { Badge } from '@/components/ui/badge';
import { Checkbox, Input, Label } from '@/components/ui/input';
import {
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableHeader,
  TableRow,
} from '@/components/ui/table';
import { WriteButton } from '@/components/write-action';
import { paths, useCluster } from '@/lib/cluster';
import { formatBytes, formatNumber } from '@/lib/format';
import { useUrlState } from '@/lib/url-state';
import { useDebouncedValue } from '@/lib/use-debounced-value';
import { CreateTopicDialog } from './CreateTopicDialog';

/** The list's URL state; `/topics?search=orders&sort=size&order=desc&page=2` is a deep link. */
export const TOPICS_URL_DEFAULTS = {
  search: '',
  sort: 'name' as TopicSort,
  order: 'asc' as SortOrder,
  page: 1,
  page_size: 50,
  include_internal: false,
};

export default function TopicsPage() {
  const cluster = useCluster();
  const [state, setState] = useUrlState(TOPICS_URL_DEFAULTS);
  const [createOpen, setCreateOpen] = useState(false);
  const [searchText, setSearchText] = useState(state.search);
  const debouncedSearch = useDebouncedValue(searchText, 250);

  // Typing updates the URL (replacing history) once it pauses; a new search starts at page 1.
  useEffect(() => {
    if (debouncedSearch !== state.search) {
      setState({ search: debouncedSearch, page: 1 }, { replace: true });
    }
  }, [debouncedSearch, state.search, setState]);

  const topics = useTopics(cluster, state);
  const onSort = (sort: TopicSort, order: SortOrder) => setState({ sort, order, page: 1 });

  return (
    <div className="space-y-6">
      <PageHeader
        title="Topics"
        description={topics.data ? `${formatNumber(topics.data.total)} topics` : undefined}
        actions={
          <WriteButton onClick={() => setCreateOpen(true)}>
            <PlusIcon /> Create topic
          </WriteButton>
        }
      />
      <div className="flex flex-wrap items-center gap-4">
        <div className="relative w-full max-w-sm">
          <SearchIcon
            className="pointer-events-none absolute top-2.5 left-3 size-4 text-muted-foreground"
            aria-hidden="true"
          />
          <Input
            type="search"
            aria-label="Search topics"
            placeholder="Search topics…"
            className="pl-9"
            value={searchText}
            onChange={(event) => setSearchText(event.target.value)}
          />
        </div>
        <Label>
          <Checkbox
            checked={state.include_internal}
            onChange={(event) => setState({ include_internal: event.target.checked, page: 1 })}
          />
          Show internal topics
        </Label>
      </div>
      {topics.isPending ? (
        <TableSkeleton columns={6} />
      ) : topics.error ? (
        <ErrorState error={topics.error} onRetry={() => void topics.refetch()} />
      ) : topics.data.items.length === 0 ? (
        <EmptyState
          title={state.search ? 'No topics match' : 'No topics yet'}
          description={
            state.search
              ? `Nothing matches “${state.search}”.`
              : 'Create one, or produce to a new topic name.'
          }
          action={
            state.search ? null : (
              <WriteButton variant="outline" onClick={() => setCreateOpen(true)}>
                <PlusIcon /> Create topic
              </WriteButton>
            )
          }
        />
      ) : (
        <div className="space-y-4" aria-busy={topics.isFetching}>
          <Table data-testid="topics-table">
            <TableHeader>
              <TableRow>
                <SortableHeader
                  label="Name"
                  sortKey="name"
                  sort={state.sort}
                  order={state.order}
                  onSort={onSort}
                />
                <SortableHeader
                  label="Partitions"
                  sortKey="partitions"
                  sort={state.sort}
                  order={state.order}
                  onSort={onSort}
                  className="text-right"
                />
                <TableHead className="text-right">Replicas</TableHead>
                <SortableHeader
                  label="Messages"
                  sortKey="messages"
                  sort={state.sort}
                  order={state.order}
                  onSort={onSort}
                  className="text-right"
                />
                <SortableHeader
                  label="Size"
                  sortKey="size"
                  sort={state.sort}
                  order={state.order}
                  onSort={onSort}
                  className="text-right"
                />
                <TableHead>Cleanup</TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {topics.data.items.map((topic) => (
                <TableRow key={topic.name}>
                  <TableCell className="max-w-md truncate">
                    <Link
                      to={paths.topic(cluster, topic.name)}
                      className="font-medium text-primary hover:underline"
                    >
                      {topic.name}
                    </Link>
                    {topic.internal ? (
                      <Badge variant="secondary" className="ml-2">
                        internal
                      </Badge>
                    ) : null}
                  </TableCell>
                  <TableCell className="text-right tabular-nums">
                    {formatNumber(topic.partition_count)}
                  </TableCell>
                  <TableCell className="text-right tabular-nums">
                    {topic.replication_factor}
                  </TableCell>
                  <TableCell className="text-right tabular-nums">
                    {formatNumber(topic.message_count)}
                  </TableCell>
                  <TableCell className="text-right tabular-nums">
                    {formatBytes(topic.size_bytes)}
                  </TableCell>
                  <TableCell>
                    {topic.cleanup_policy ? (
                      <Badge variant="outline">{topic.cleanup_policy}</Badge>
                    ) : (
                      '—'
                    )}
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
          <Pagination
            page={state.page}
            pageSize={state.page_size}
            total={topics.data.total}
            onPageChange={(page) => setState({ page })}
            onPageSizeChange={(page_size) => setState({ page_size, page: 1 })}
          />
        </div>
      )}
      <CreateTopicDialog cluster={cluster} open={createOpen} onOpenChange={setCreateOpen} />
    </div>
  );
}
