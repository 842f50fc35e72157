import { Navigate } from 'react-router';
import { defaultCluster, useClusters } from '@/api/clusters';
import { PageSkeleton } from '@/components/page-skeleton';
import { FALLBACK_CLUSTER, lastCluster, paths } from '@/lib/cluster';

/**
 * `/` opens the last used cluster, else the configured default. When the
 * cluster list cannot be loaded the overview of a guessed cluster still
 * opens, and shows its own error, rather than a blank page.
 */
export function RootRedirect() {
  const clusters = useClusters();
  if (clusters.isPending) return <PageSkeleton />;
  const names = clusters.data?.map((cluster) => cluster.name) ?? [];
  const remembered = lastCluster();
  const target =
    remembered !== null && names.includes(remembered)
      ? remembered
      : (defaultCluster(clusters.data)?.name ?? remembered ?? FALLBACK_CLUSTER);
  return <Navigate to={paths.overview(target)} replace />;
}
