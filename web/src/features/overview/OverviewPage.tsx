import type { ReactNode } from 'react';
import { Link } from 'react-router';
import { useClusterOverview, useStorageHealth } from '@/api/clusters';
import type { ClusterOverview, StorageHealth } from '@/api/types';
import { PageHeader } from '@/components/page-header';
import { QueryView } from '@/components/states';
import { Badge } from '@/components/ui/badge';
import { Card, CardContent, CardHeader, CardTitle } from '@/components/ui/card';
import { Skeleton } from '@/components/ui/skeleton';
import { BrokersTable } from '@/features/brokers/BrokersTable';
import { paths, useCluster } from '@/lib/cluster';
import { formatBytes, formatNumber } from '@/lib/format';
import { cn, range } from '@/lib/utils';
import { DiskUsage } from './DiskUsage';
import { StorageHealthCard } from './StorageHealthCard';
import { ThroughputCharts } from './ThroughputCharts';

export default function OverviewPage() {
  const cluster = useCluster();
  const overview = useClusterOverview(cluster);
  const storage = useStorageHealth(cluster);
  return (
    <div className="space-y-6">
      <PageHeader
        title="Overview"
        description={
          overview.data ? (
            <>
              Cluster <span className="font-mono">{overview.data.cluster_id ?? '—'}</span> ·
              controller {overview.data.controller_id}
            </>
          ) : (
            cluster
          )
        }
        badges={
          overview.data ? <HealthBadge overview={overview.data} storage={storage.data} /> : null
        }
      />
      <QueryView query={overview} skeleton={<OverviewSkeleton />}>
        {(data) => <OverviewContent cluster={cluster} overview={data} />}
      </QueryView>
    </div>
  );
}

function HealthBadge({
  overview,
  storage,
}: {
  overview: ClusterOverview;
  storage: StorageHealth | undefined;
}) {
  if (overview.offline_partitions > 0)
    return <Badge variant="destructive">Offline partitions</Badge>;
  if ((storage?.damaged_range_count ?? 0) > 0) return <Badge variant="warning">Damaged data</Badge>;
  if (overview.under_replicated_partitions > 0) return <Badge variant="warning">Degraded</Badge>;
  return <Badge variant="success">Healthy</Badge>;
}

function OverviewContent({ cluster, overview }: { cluster: string; overview: ClusterOverview }) {
  return (
    <>
      <div className="grid gap-4 sm:grid-cols-2 lg:grid-cols-3 xl:grid-cols-6">
        <StatCard
          label="Brokers"
          value={formatNumber(overview.brokers.length)}
          to={paths.brokers(cluster)}
        />
        <StatCard
          label="Topics"
          value={formatNumber(overview.topic_count)}
          to={paths.topics(cluster)}
        />
        <StatCard label="Partitions" value={formatNumber(overview.partition_count)} />
        <StatCard
          label="Under-replicated"
          value={formatNumber(overview.under_replicated_partitions)}
          tone={overview.under_replicated_partitions > 0 ? 'warning' : undefined}
        />
        <StatCard
          label="Offline"
          value={formatNumber(overview.offline_partitions)}
          tone={overview.offline_partitions > 0 ? 'destructive' : undefined}
        />
        <StatCard label="Total size" value={formatBytes(overview.total_size_bytes)} />
      </div>
      <StorageHealthCard cluster={cluster} />
      <ThroughputCharts cluster={cluster} />
      <DiskUsage brokers={overview.brokers} />
      <Card>
        <CardHeader>
          <CardTitle>Brokers</CardTitle>
        </CardHeader>
        <CardContent>
          <BrokersTable cluster={cluster} brokers={overview.brokers} />
        </CardContent>
      </Card>
    </>
  );
}

function StatCard({
  label,
  value,
  to,
  tone,
}: {
  label: string;
  value: ReactNode;
  to?: string;
  tone?: 'warning' | 'destructive' | undefined;
}) {
  const body = (
    <Card
      className={cn(
        'h-full transition-colors',
        to && 'hover:border-primary/50',
        tone === 'warning' && 'border-warning/60',
        tone === 'destructive' && 'border-destructive/60',
      )}
    >
      <CardContent className="space-y-1">
        <p className="text-xs font-medium uppercase tracking-wide text-muted-foreground">{label}</p>
        <p
          className={cn(
            'text-2xl font-semibold tabular-nums',
            tone === 'destructive' && 'text-destructive',
          )}
        >
          {value}
        </p>
      </CardContent>
    </Card>
  );
  return to ? (
    <Link
      to={to}
      className="rounded-xl outline-none focus-visible:ring-[3px] focus-visible:ring-ring/50"
    >
      {body}
    </Link>
  ) : (
    body
  );
}

function OverviewSkeleton() {
  return (
    <div className="space-y-4" data-testid="loading-skeleton">
      <div className="grid gap-4 sm:grid-cols-2 lg:grid-cols-3 xl:grid-cols-6">
        {range(6).map((index) => (
          <Skeleton key={index} className="h-20" />
        ))}
      </div>
      <div className="grid gap-4 lg:grid-cols-2">
        <Skeleton className="h-80" />
        <Skeleton className="h-80" />
      </div>
      <Skeleton className="h-72" />
    </div>
  );
}
