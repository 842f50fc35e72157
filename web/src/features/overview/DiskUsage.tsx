import { HardDriveIcon } from 'lucide-react';
import type { Broker, LogDir } from '@/api/types';
import { LazyBarChart } from '@/components/charts';
import { EmptyState } from '@/components/states';
import { Badge } from '@/components/ui/badge';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import {
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableHeader,
  TableRow,
} from '@/components/ui/table';
import { formatBytes } from '@/lib/format';
import { cn } from '@/lib/utils';

/** How full a log directory's volume is, when the broker reports its size (Kafka 3.3+ and Takhin do). */
export function volumeUsage(dir: LogDir): { used: number; total: number; fraction: number } | null {
  const { total_bytes: total, usable_bytes: usable } = dir;
  if (total === null || total === undefined || usable === null || usable === undefined) return null;
  if (total <= 0 || usable < 0) return null;
  const used = Math.max(0, total - usable);
  return { used, total, fraction: used / total };
}

/** Volumes this full are shown as a warning, then as an error. */
const VOLUME_WARNING_FRACTION = 0.8;
const VOLUME_CRITICAL_FRACTION = 0.9;

/**
 * Bytes of partition data per broker (all its log directories), and each
 * log directory's volume: how full it is, which is what runs a broker out of
 * space.
 */
export function DiskUsage({ brokers }: { brokers: Broker[] }) {
  const sorted = [...brokers].sort((a, b) => a.node_id - b.node_id);
  const bytesByBroker = sorted.map((broker) => ({
    label: `Broker ${broker.node_id}`,
    value: broker.log_dirs.reduce((sum, dir) => sum + dir.size_bytes, 0),
  }));
  const rows = sorted.flatMap((broker) => broker.log_dirs.map((dir) => ({ broker, dir })));
  return (
    <Card>
      <CardHeader>
        <CardTitle>Disk usage</CardTitle>
        <CardDescription>
          Partition data per broker, and how full each log volume is.
        </CardDescription>
      </CardHeader>
      <CardContent className="space-y-4">
        {rows.length === 0 ? (
          <EmptyState
            icon={<HardDriveIcon />}
            title="No log directories reported"
            description={
              sorted
                .map((broker) => broker.log_dirs_error)
                .filter(Boolean)
                .join(' ') || 'The brokers did not describe their log directories.'
            }
          />
        ) : (
          <>
            <LazyBarChart data={bytesByBroker} formatValue={formatBytes} height={180} />
            <Table data-testid="disk-usage-table">
              <TableHeader>
                <TableRow>
                  <TableHead>Broker</TableHead>
                  <TableHead>Log directory</TableHead>
                  <TableHead className="text-right">Partition data</TableHead>
                  <TableHead className="w-1/3">Volume</TableHead>
                </TableRow>
              </TableHeader>
              <TableBody>
                {rows.map(({ broker, dir }) => (
                  <TableRow key={`${broker.node_id}:${dir.path}`}>
                    <TableCell className="tabular-nums">{broker.node_id}</TableCell>
                    <TableCell className="max-w-48 truncate font-mono text-xs" title={dir.path}>
                      {dir.path}
                    </TableCell>
                    <TableCell className="text-right tabular-nums">
                      {formatBytes(dir.size_bytes)}
                    </TableCell>
                    <TableCell>
                      {dir.error ? (
                        <Badge variant="destructive">{dir.error}</Badge>
                      ) : (
                        <VolumeMeter dir={dir} />
                      )}
                    </TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          </>
        )}
      </CardContent>
    </Card>
  );
}

function VolumeMeter({ dir }: { dir: LogDir }) {
  const usage = volumeUsage(dir);
  if (!usage) return <span className="text-xs text-muted-foreground">not reported</span>;
  const percent = Math.round(usage.fraction * 100);
  const text = `${formatBytes(usage.used)} of ${formatBytes(usage.total)} used`;
  return (
    <div className="grid gap-1">
      {/* Decorative: the text below says the same for screen readers. */}
      <div aria-hidden="true" className="h-2 w-full overflow-hidden rounded-full bg-muted">
        <div
          className={cn(
            'h-full rounded-full bg-primary',
            usage.fraction >= VOLUME_WARNING_FRACTION && 'bg-warning',
            usage.fraction >= VOLUME_CRITICAL_FRACTION && 'bg-destructive',
          )}
          style={{ width: `${percent}%` }}
        />
      </div>
      <span className="text-xs text-muted-foreground tabular-nums" data-testid="volume-usage">
        {percent}% · {text}
      </span>
    </div>
  );
}
