import { ArrowDownIcon, ArrowUpDownIcon, ArrowUpIcon } from 'lucide-react';
import type { SortOrder } from '@/api/types';
import { TableHead } from '@/components/ui/table';
import { cn } from '@/lib/utils';

/**
 * A column header that sorts by its key: a real button inside the <th> (so
 * Tab and Enter work) and aria-sort on the <th> for screen readers.
 */
export function SortableHeader<K extends string>({
  label,
  sortKey,
  sort,
  order,
  onSort,
  className,
}: {
  label: string;
  sortKey: K;
  sort: K;
  order: SortOrder;
  onSort: (sort: K, order: SortOrder) => void;
  className?: string;
}) {
  const active = sort === sortKey;
  const nextOrder: SortOrder = active && order === 'asc' ? 'desc' : 'asc';
  const Icon = !active ? ArrowUpDownIcon : order === 'asc' ? ArrowUpIcon : ArrowDownIcon;
  return (
    <TableHead
      aria-sort={active ? (order === 'asc' ? 'ascending' : 'descending') : 'none'}
      className={className}
    >
      <button
        type="button"
        onClick={() => onSort(sortKey, nextOrder)}
        className={cn(
          'inline-flex items-center gap-1 rounded-sm uppercase outline-none hover:text-foreground focus-visible:ring-[3px] focus-visible:ring-ring/50',
          active && 'text-foreground',
        )}
      >
        {label}
        <Icon className={cn('size-3.5', !active && 'opacity-40')} aria-hidden="true" />
      </button>
    </TableHead>
  );
}
