import type { UseQueryResult } from '@tanstack/react-query';
import { AlertTriangleIcon, InboxIcon, RefreshCwIcon } from 'lucide-react';
import type { ReactNode } from 'react';
import { isApiError } from '@/api/http';
import { Button } from '@/components/ui/button';
import { Skeleton } from '@/components/ui/skeleton';
import { cn, range } from '@/lib/utils';

/** Title and detail for any thrown value, from the problem+json when there is one. */
export function describeError(error: unknown): { title: string; detail: string; code?: string } {
  if (isApiError(error)) {
    const { problem } = error;
    const detail =
      problem.detail ??
      (problem.status === 404
        ? 'The console API does not have this endpoint or resource.'
        : `The server answered ${problem.status}.`);
    return {
      title: problem.title,
      detail,
      code: [problem.status || undefined, problem.kafka_error].filter(Boolean).join(' · '),
    };
  }
  return {
    title: 'Something went wrong',
    detail: error instanceof Error ? error.message : String(error),
  };
}

export function ErrorState({
  error,
  onRetry,
  className,
}: {
  error: unknown;
  onRetry?: () => void;
  className?: string;
}) {
  const { title, detail, code } = describeError(error);
  return (
    <div
      role="alert"
      data-testid="error-state"
      className={cn(
        'flex flex-col items-center gap-3 rounded-lg border border-destructive/30 bg-destructive/5 px-6 py-10 text-center',
        className,
      )}
    >
      <AlertTriangleIcon className="size-8 text-destructive" aria-hidden="true" />
      <div className="space-y-1">
        <p className="font-semibold">{title}</p>
        <p className="max-w-prose text-sm text-muted-foreground">{detail}</p>
        {code ? <p className="font-mono text-xs text-muted-foreground">{code}</p> : null}
      </div>
      {onRetry ? (
        <Button variant="outline" size="sm" onClick={onRetry}>
          <RefreshCwIcon /> Try again
        </Button>
      ) : null}
    </div>
  );
}

export function EmptyState({
  title,
  description,
  action,
  icon,
  className,
  heading,
}: {
  title: string;
  description?: ReactNode;
  action?: ReactNode;
  icon?: ReactNode;
  className?: string;
  /** When the state is the whole page (not found), its title is the page's heading. */
  heading?: 'h1' | 'h2';
}) {
  const Title = heading ?? 'p';
  return (
    <div
      data-testid="empty-state"
      className={cn(
        'flex flex-col items-center gap-3 rounded-lg border border-dashed px-6 py-10 text-center',
        className,
      )}
    >
      <span className="text-muted-foreground [&_svg]:size-8" aria-hidden="true">
        {icon ?? <InboxIcon />}
      </span>
      <div className="space-y-1">
        <Title className="font-semibold">{title}</Title>
        {description ? (
          <p className="max-w-prose text-sm text-muted-foreground">{description}</p>
        ) : null}
      </div>
      {action}
    </div>
  );
}

export function TableSkeleton({ rows = 6, columns = 5 }: { rows?: number; columns?: number }) {
  return (
    <div className="space-y-2" data-testid="loading-skeleton">
      <span className="sr-only" role="status">
        Loading…
      </span>
      <Skeleton className="h-9 w-full" />
      {range(rows).map((row) => (
        <div key={row} className="flex gap-3">
          {range(columns).map((column) => (
            <Skeleton key={column} className={cn('h-7', column === 0 ? 'w-2/5' : 'flex-1')} />
          ))}
        </div>
      ))}
    </div>
  );
}

/**
 * The three states of a query in one place: skeleton while the first load
 * runs, the error state (with retry) when it failed, else the data.
 */
export function QueryView<T>({
  query,
  skeleton,
  children,
}: {
  query: Pick<UseQueryResult<T>, 'data' | 'error' | 'isPending' | 'refetch'>;
  skeleton?: ReactNode;
  children: (data: T) => ReactNode;
}) {
  if (query.isPending) return <>{skeleton ?? <TableSkeleton />}</>;
  if (query.error || query.data === undefined) {
    return <ErrorState error={query.error} onRetry={() => void query.refetch()} />;
  }
  return <>{children(query.data)}</>;
}
