import { useStorageHealth } from '@/api/clusters';
import { useTopic } from '@/api/topics';
import type { PartitionDamage, PartitionDetails } from '@/api/types';
import { EmptyState, QueryView } from '@/components/states';
import { Badge } from '@/components/ui/badge';
import {
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableHeader,
  TableRow,
} from '@/components/ui/table';
import { plural } from '@/features/storage/damage';
import { useCluster } from '@/lib/cluster';
import { formatBytes, formatNumber } from '@/lib/format';
import { DamagedRanges } from './DamagedRanges';
import { useTopicName } from './TopicPage';

export default function PartitionsTab() {
  const cluster = useCluster();
  const topic = useTopicName();
  const details = useTopic(cluster, topic);
  const storage = useStorageHealth(cluster, topic);
  const damaged = storage.data?.partitions ?? [];
  return (
    <QueryView query={details}>
      {(data) =>
        data.partitions.length === 0 ? (
          <EmptyState title="No partitions" />
        ) : (
          <div className="space-y-6">
            <PartitionsTable partitions={data.partitions} damage={damaged} />
            {damaged.length > 0 ? (
              <DamagedRanges partitions={damaged} truncated={storage.data?.truncated ?? false} />
            ) : null}
            {storage.data && !storage.data.available ? (
              <p className="text-sm text-muted-foreground">
                Damaged data in log segments is only known for clusters Takhin runs.
              </p>
            ) : null}
          </div>
        )
      }
    </QueryView>
  );
}

export function PartitionsTable({
  partitions,
  damage = [],
}: {
  partitions: PartitionDetails[];
  /** Partitions with damaged ranges (from the storage health), marked in their rows. */
  damage?: PartitionDamage[];
}) {
  const rangesByPartition = new Map(
    damage.map((partition) => [partition.partition, partition.damaged_ranges.length]),
  );
  return (
    <Table data-testid="partitions-table">
      <TableHeader>
        <TableRow>
          <TableHead>Partition</TableHead>
          <TableHead>Leader</TableHead>
          <TableHead>Replicas</TableHead>
          <TableHead>In sync</TableHead>
          <TableHead className="text-right">Log start</TableHead>
          <TableHead className="text-right">High watermark</TableHead>
          <TableHead className="text-right">Messages</TableHead>
          <TableHead className="text-right">Size</TableHead>
        </TableRow>
      </TableHeader>
      <TableBody>
        {[...partitions]
          .sort((a, b) => a.partition - b.partition)
          .map((partition) => {
            const underReplicated = partition.isr.length < partition.replicas.length;
            const damagedRanges = rangesByPartition.get(partition.partition) ?? 0;
            return (
              <TableRow key={partition.partition}>
                <TableCell className="tabular-nums">
                  {partition.partition}
                  {damagedRanges > 0 ? (
                    <Badge variant="warning" className="ml-2">
                      damaged: {plural(damagedRanges, 'range')}
                    </Badge>
                  ) : null}
                </TableCell>
                <TableCell>
                  {partition.leader < 0 ? (
                    <Badge variant="destructive">offline</Badge>
                  ) : (
                    partition.leader
                  )}
                </TableCell>
                <TableCell className="font-mono text-xs">{partition.replicas.join(', ')}</TableCell>
                <TableCell className="font-mono text-xs">
                  {partition.isr.join(', ')}
                  {underReplicated ? (
                    <Badge variant="warning" className="ml-2">
                      under-replicated
                    </Badge>
                  ) : null}
                </TableCell>
                <TableCell className="text-right tabular-nums">
                  {formatNumber(partition.log_start_offset)}
                </TableCell>
                <TableCell className="text-right tabular-nums">
                  {formatNumber(partition.high_watermark)}
                </TableCell>
                <TableCell className="text-right tabular-nums">
                  {formatNumber(partition.message_count ?? messagesBetween(partition))}
                </TableCell>
                <TableCell className="text-right tabular-nums">
                  {formatBytes(partition.size_bytes)}
                </TableCell>
              </TableRow>
            );
          })}
      </TableBody>
    </Table>
  );
}

/** Offsets span, when the API gave no count (an estimate: compaction and transactions leave gaps). */
function messagesBetween(partition: PartitionDetails): number | null {
  const { high_watermark: end, log_start_offset: start } = partition;
  return end === null || end === undefined || start === null || start === undefined
    ? null
    : end - start;
}
