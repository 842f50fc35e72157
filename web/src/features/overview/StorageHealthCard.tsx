import { AlertTriangleIcon } from 'lucide-react';
import { Link } from 'react-router';
import { useStorageHealth } from '@/api/clusters';
import type { StorageHealth } from '@/api/types';
import { describeError } from '@/components/states';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { damageByTopic, damageSummary, isLost, plural } from '@/features/storage/damage';
import { paths } from '@/lib/cluster';

/**
 * Damaged data in the cluster's log segments: a warning card when there is
 * any, a quiet line when the console cannot know (a cluster Takhin does not
 * run), and nothing at all when the storage is healthy.
 */
export function StorageHealthCard({ cluster }: { cluster: string }) {
  const health = useStorageHealth(cluster);
  if (health.isError) {
    return (
      <p className="text-sm text-muted-foreground">
        Storage health could not be loaded: {describeError(health.error).detail}
      </p>
    );
  }
  if (!health.data) return null;
  if (!health.data.available) {
    return (
      <p className="text-sm text-muted-foreground" data-testid="storage-health-unavailable">
        Storage health (damaged data in log segments) is only known for clusters Takhin runs.
      </p>
    );
  }
  if (health.data.damaged_range_count === 0) return null;
  return <DamageCard cluster={cluster} health={health.data} />;
}

function DamageCard({ cluster, health }: { cluster: string; health: StorageHealth }) {
  const ranges = health.partitions.flatMap((partition) => partition.damaged_ranges);
  const lost = ranges.filter(isLost).length;
  const served = ranges.length - lost;
  return (
    <Card className="border-warning/60 bg-warning/5" aria-labelledby="storage-damage-title">
      <CardHeader>
        <CardTitle id="storage-damage-title" className="flex items-center gap-2">
          <AlertTriangleIcon className="size-4 text-warning" aria-hidden="true" />
          Damaged data: {damageSummary(health)}
        </CardTitle>
        <CardDescription>
          Found in closed log segments.{' '}
          {lost > 0
            ? `${plural(lost, 'range')} moved out of the log by recovery (the offsets are lost). `
            : ''}
          {served > 0
            ? `${plural(served, 'range')} still served: consumers reading ${served === 1 ? 'it' : 'them'} get a CRC error.`
            : ''}
          {health.truncated ? ' Only the first ranges are listed.' : ''}
        </CardDescription>
      </CardHeader>
      <CardContent>
        <ul className="space-y-1 text-sm" aria-label="Topics with damaged data">
          {[...damageByTopic(health.partitions)].map(([topic, partitions]) => (
            <li key={topic}>
              <Link
                to={paths.topic(cluster, topic, 'partitions')}
                className="font-mono font-medium text-primary hover:underline"
              >
                {topic}
              </Link>{' '}
              <span className="text-muted-foreground">
                · {partitions.length === 1 ? 'partition' : 'partitions'}{' '}
                {partitions.map((partition) => partition.partition).join(', ')} ·{' '}
                {plural(
                  partitions.reduce((sum, partition) => sum + partition.damaged_ranges.length, 0),
                  'damaged range',
                )}
              </span>
            </li>
          ))}
        </ul>
      </CardContent>
    </Card>
  );
}
