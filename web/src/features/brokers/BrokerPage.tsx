import { Link, useParams } from 'react-router';
import { useBrokerConfigs, useBrokers } from '@/api/clusters';
import { ConfigTable } from '@/components/config-table';
import { PageHeader } from '@/components/page-header';
import { EmptyState, ErrorState, QueryView } from '@/components/states';
import { Badge } from '@/components/ui/badge';
import { Button } from '@/components/ui/button';
import { Card, CardContent, CardHeader, CardTitle } from '@/components/ui/card';
import {
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableHeader,
  TableRow,
} from '@/components/ui/table';
import { paths, useCluster } from '@/lib/cluster';
import { formatBytes } from '@/lib/format';

export default function BrokerPage() {
  const cluster = useCluster();
  const brokerId = Number(useParams().brokerId);
  const brokers = useBrokers(cluster);
  const configs = useBrokerConfigs(cluster, brokerId);
  const broker = brokers.data?.find((candidate) => candidate.node_id === brokerId);

  if (!Number.isInteger(brokerId)) {
    return (
      <EmptyState heading="h1" title="No such broker" description="Broker ids are whole numbers." />
    );
  }
  if (brokers.data && !broker) {
    return (
      <EmptyState
        heading="h1"
        title={`No broker ${brokerId}`}
        description="The cluster has no broker with this id (it may have left)."
        action={
          <Button asChild variant="outline">
            <Link to={paths.brokers(cluster)}>All brokers</Link>
          </Button>
        }
      />
    );
  }
  return (
    <div className="space-y-6">
      <PageHeader
        title={`Broker ${brokerId}`}
        description={
          broker
            ? `${broker.host}:${broker.port}${broker.rack ? ` · rack ${broker.rack}` : ''}`
            : undefined
        }
        badges={broker?.is_controller ? <Badge variant="secondary">controller</Badge> : null}
      />
      {brokers.error ? (
        <ErrorState error={brokers.error} onRetry={() => void brokers.refetch()} />
      ) : null}
      {broker ? (
        <Card>
          <CardHeader>
            <CardTitle>Log directories</CardTitle>
          </CardHeader>
          <CardContent>
            <Table>
              <TableHeader>
                <TableRow>
                  <TableHead>Path</TableHead>
                  <TableHead className="text-right">Size</TableHead>
                  <TableHead>Status</TableHead>
                </TableRow>
              </TableHeader>
              <TableBody>
                {broker.log_dirs.map((dir) => (
                  <TableRow key={dir.path}>
                    <TableCell className="font-mono text-xs">{dir.path}</TableCell>
                    <TableCell className="text-right tabular-nums">
                      {formatBytes(dir.size_bytes)}
                    </TableCell>
                    <TableCell>
                      {dir.error ? (
                        <Badge variant="destructive">{dir.error}</Badge>
                      ) : (
                        <Badge variant="success">ok</Badge>
                      )}
                    </TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          </CardContent>
        </Card>
      ) : null}
      <section className="space-y-3">
        <h2 className="text-lg font-semibold">Configuration</h2>
        <QueryView query={configs}>{(entries) => <ConfigTable entries={entries} />}</QueryView>
      </section>
    </div>
  );
}
