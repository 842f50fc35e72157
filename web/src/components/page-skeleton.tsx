import { TableSkeleton } from '@/components/states';
import { Skeleton } from '@/components/ui/skeleton';

/** Shown while a page's code chunk loads. */
export function PageSkeleton() {
  return (
    <div className="space-y-6">
      <Skeleton className="h-8 w-64" />
      <TableSkeleton />
    </div>
  );
}
