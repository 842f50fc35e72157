import { AlertTriangleIcon } from 'lucide-react';
import type { PartitionDamage } from '@/api/types';
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
import {
  bytesText,
  fateText,
  fileName,
  isLost,
  offsetsText,
  plural,
} from '@/features/storage/damage';

/**
 * Every damaged range of a topic's partitions: where in which segment, the
 * offsets it covers, why, and what became of the bytes.
 */
export function DamagedRanges({
  partitions,
  truncated,
}: {
  partitions: PartitionDamage[];
  truncated: boolean;
}) {
  const count = partitions.reduce((sum, partition) => sum + partition.damaged_ranges.length, 0);
  return (
    <Card className="border-warning/60" aria-labelledby="damaged-ranges-title">
      <CardHeader>
        <CardTitle id="damaged-ranges-title" className="flex items-center gap-2">
          <AlertTriangleIcon className="size-4 text-warning" aria-hidden="true" />
          Damaged data: {plural(count, 'range')} in {plural(partitions.length, 'partition')}
        </CardTitle>
        <CardDescription>
          Found in closed log segments by recovery (at start-up) or by the scrubber. Intact batches
          around each range are kept and served.
          {truncated ? ' Only the first ranges are listed.' : ''}
        </CardDescription>
      </CardHeader>
      <CardContent>
        <Table data-testid="damaged-ranges-table">
          <TableHeader>
            <TableRow>
              <TableHead>Partition</TableHead>
              <TableHead>Segment</TableHead>
              <TableHead>Offsets</TableHead>
              <TableHead>Reason</TableHead>
              <TableHead>The bytes</TableHead>
            </TableRow>
          </TableHeader>
          <TableBody>
            {partitions.flatMap((partition) =>
              partition.damaged_ranges.map((range) => (
                <TableRow
                  key={`${partition.partition}:${range.file}:${range.position_bytes}:${range.first_offset}`}
                >
                  <TableCell className="tabular-nums">{partition.partition}</TableCell>
                  <TableCell>
                    <span className="font-mono text-xs" title={range.file}>
                      {fileName(range.file)}
                    </span>
                    <span className="block text-xs text-muted-foreground">{bytesText(range)}</span>
                  </TableCell>
                  <TableCell className="whitespace-nowrap">
                    <span className="tabular-nums">{offsetsText(range)}</span>{' '}
                    {isLost(range) ? (
                      <Badge variant="destructive">lost</Badge>
                    ) : (
                      <Badge variant="warning">affected</Badge>
                    )}
                  </TableCell>
                  <TableCell className="max-w-72 whitespace-normal text-xs">
                    {range.reason}
                  </TableCell>
                  <TableCell className="max-w-96 whitespace-normal text-xs">
                    {fateText(range)}
                    {range.quarantined_to ? (
                      <span className="mt-0.5 block break-all font-mono">
                        {range.quarantined_to}
                      </span>
                    ) : null}
                  </TableCell>
                </TableRow>
              )),
            )}
          </TableBody>
        </Table>
      </CardContent>
    </Card>
  );
}
