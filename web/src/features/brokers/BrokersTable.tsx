import { Link } from 'react-router';
import type { Broker } from '@/api/types';
import { EmptyState } from '@/components/states';
import { Badge } from '@/components/ui/badge';
import {
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableHeader,
  TableRow,
} from '@/components/ui/table';
import { paths } from '@/lib/cluster';
import { formatBytes } from '@/lib/format';

export function BrokersTable({ cluster, brokers }: { cluster: string; brokers: Broker[] }) {
  if (brokers.length === 0)
    return <EmptyState title="No brokers" description="The cluster reported no brokers." />;
  return (
    <Table>
      <TableHeader>
        <TableRow>
          <TableHead>ID</TableHead>
          <TableHead>Address</TableHead>
          <TableHead>Rack</TableHead>
          <TableHead>Log directories</TableHead>
          <TableHead className="text-right">Size</TableHead>
        </TableRow>
      </TableHeader>
      <TableBody>
        {[...brokers]
          .sort((a, b) => a.node_id - b.node_id)
          .map((broker) => {
            const errors = broker.log_dirs.filter((dir) => dir.error);
            return (
              <TableRow key={broker.node_id}>
                <TableCell>
                  <Link
                    to={paths.broker(cluster, broker.node_id)}
                    className="font-medium text-primary hover:underline"
                  >
                    {broker.node_id}
                  </Link>
                  {broker.is_controller ? (
                    <Badge variant="secondary" className="ml-2">
                      controller
                    </Badge>
                  ) : null}
                </TableCell>
                <TableCell className="font-mono text-xs">
                  {broker.host}:{broker.port}
                </TableCell>
                <TableCell>{broker.rack ?? '—'}</TableCell>
                <TableCell>
                  <span className="text-muted-foreground">{broker.log_dirs.length}</span>
                  {errors.length > 0 ? (
                    <Badge
                      variant="destructive"
                      className="ml-2"
                      title={errors.map((dir) => `${dir.path}: ${dir.error}`).join('\n')}
                    >
                      {errors.length} failing
                    </Badge>
                  ) : null}
                </TableCell>
                <TableCell className="text-right tabular-nums">
                  {formatBytes(broker.log_dirs.reduce((sum, dir) => sum + dir.size_bytes, 0))}
                </TableCell>
              </TableRow>
            );
          })}
      </TableBody>
    </Table>
  );
}
