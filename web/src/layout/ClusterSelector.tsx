import { AlertTriangleIcon } from 'lucide-react';
import { useLocation, useNavigate } from 'react-router';
import { useClusters } from '@/api/clusters';
import { describeError } from '@/components/states';
import { NativeSelect } from '@/components/ui/input';
import { Skeleton } from '@/components/ui/skeleton';
import { Tooltip } from '@/components/ui/tooltip';

/**
 * Switches cluster and stays on the same kind of page: a topic page of one
 * cluster becomes the topics list of the other (the topic may not exist there).
 */
export function switchClusterPath(pathname: string, to: string): string {
  const match = /^\/clusters\/[^/]+\/([^/]+)/.exec(pathname);
  const section = match?.[1] ?? 'overview';
  return `/clusters/${encodeURIComponent(to)}/${section}`;
}

export function ClusterSelector({ current }: { current: string }) {
  const clusters = useClusters();
  const navigate = useNavigate();
  const location = useLocation();

  if (clusters.isPending) return <Skeleton className="h-9 w-full" />;
  if (clusters.error) {
    return (
      <Tooltip content={describeError(clusters.error).detail}>
        <button
          type="button"
          className="flex h-9 w-full items-center gap-2 rounded-md border border-destructive/40 px-3 text-left text-sm text-destructive"
        >
          <AlertTriangleIcon className="size-4 shrink-0" aria-hidden="true" />
          <span className="truncate">Clusters unavailable</span>
        </button>
      </Tooltip>
    );
  }
  const names = clusters.data.map((cluster) => cluster.name);
  return (
    <NativeSelect
      aria-label="Cluster"
      className="w-full"
      value={current}
      onChange={(event) => navigate(switchClusterPath(location.pathname, event.target.value))}
    >
      {names.includes(current) ? null : <option value={current}>{current}</option>}
      {clusters.data.map((cluster) => (
        <option key={cluster.name} value={cluster.name}>
          {cluster.name}
        </option>
      ))}
    </NativeSelect>
  );
}
