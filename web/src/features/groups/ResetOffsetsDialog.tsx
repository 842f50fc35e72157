import { type FormEvent, useId, useMemo, useState } from 'react';
import { toast } from 'sonner';
import { useResetGroupOffsets } from '@/api/groups';
import type { GroupDetails, OffsetReset, ResetOffsetsRequest, ResetStrategy } from '@/api/types';
import { describeError } from '@/components/states';
import { Button } from '@/components/ui/button';
import {
  Dialog,
  DialogContent,
  DialogDescription,
  DialogFooter,
  DialogHeader,
  DialogTitle,
} from '@/components/ui/dialog';
import { Input, NativeSelect } from '@/components/ui/input';
import {
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableHeader,
  TableRow,
} from '@/components/ui/table';
import { formatNumber } from '@/lib/format';

const STRATEGIES: { value: ResetStrategy; label: string; valueLabel?: string }[] = [
  { value: 'earliest', label: 'Earliest offset' },
  { value: 'latest', label: 'Latest offset' },
  { value: 'timestamp', label: 'At a time', valueLabel: 'Time' },
  { value: 'offset', label: 'A specific offset', valueLabel: 'Offset' },
  { value: 'shift', label: 'Shift by N', valueLabel: 'N (negative goes back)' },
];

/**
 * Two steps: a dry run shows each partition's previous and new offset, then
 * "Apply" sends the same request for real. Changing any input discards the
 * preview, so what is applied is always what was previewed.
 */
export function ResetOffsetsDialog({
  cluster,
  group,
  onClose,
}: {
  cluster: string;
  group: GroupDetails;
  onClose: () => void;
}) {
  const id = useId();
  const reset = useResetGroupOffsets(cluster, group.group_id);
  const topics = useMemo(
    () => [...new Set(group.offsets.map((offset) => offset.topic))].sort(),
    [group.offsets],
  );
  const [topic, setTopic] = useState(topics[0] ?? '');
  const [strategy, setStrategy] = useState<ResetStrategy>('earliest');
  const [value, setValue] = useState('');
  const [preview, setPreview] = useState<OffsetReset[] | null>(null);
  const needsValue = STRATEGIES.find((candidate) => candidate.value === strategy)?.valueLabel;

  const request = (dryRun: boolean): ResetOffsetsRequest | null => {
    let numeric: number | undefined;
    if (needsValue) {
      numeric = strategy === 'timestamp' ? new Date(value).getTime() : Number(value);
      if (value === '' || !Number.isFinite(numeric)) return null;
    }
    return {
      topic,
      strategy,
      dry_run: dryRun,
      ...(numeric === undefined ? {} : { value: numeric }),
    };
  };

  const changed =
    <T,>(setter: (next: T) => void) =>
    (next: T) => {
      setter(next);
      setPreview(null);
    };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const body = request(preview === null);
    if (!body) return;
    reset.mutate(body, {
      onSuccess: (result) => {
        if (body.dry_run) {
          setPreview(result);
        } else {
          toast.success(`Offsets of ${group.group_id} reset on ${topic}`);
          onClose();
        }
      },
      onError: (error) =>
        toast.error('Offsets not reset', { description: describeError(error).detail }),
    });
  };

  return (
    <Dialog open onOpenChange={(open) => !open && onClose()}>
      <DialogContent className="sm:max-w-2xl">
        <form className="grid gap-4" onSubmit={submit} noValidate>
          <DialogHeader>
            <DialogTitle>Reset offsets</DialogTitle>
            <DialogDescription>
              The group must have no active members. Preview first; nothing changes until you apply.
            </DialogDescription>
          </DialogHeader>
          <div className="grid gap-4 sm:grid-cols-3">
            <div className="grid gap-2">
              <label htmlFor={`${id}-topic`} className="text-sm font-medium">
                Topic
              </label>
              <NativeSelect
                id={`${id}-topic`}
                value={topic}
                onChange={(event) => changed(setTopic)(event.target.value)}
              >
                {topics.map((name) => (
                  <option key={name} value={name}>
                    {name}
                  </option>
                ))}
              </NativeSelect>
            </div>
            <div className="grid gap-2">
              <label htmlFor={`${id}-strategy`} className="text-sm font-medium">
                Reset to
              </label>
              <NativeSelect
                id={`${id}-strategy`}
                value={strategy}
                onChange={(event) => changed(setStrategy)(event.target.value as ResetStrategy)}
              >
                {STRATEGIES.map((candidate) => (
                  <option key={candidate.value} value={candidate.value}>
                    {candidate.label}
                  </option>
                ))}
              </NativeSelect>
            </div>
            {needsValue ? (
              <div className="grid gap-2">
                <label htmlFor={`${id}-value`} className="text-sm font-medium">
                  {needsValue}
                </label>
                <Input
                  id={`${id}-value`}
                  type={strategy === 'timestamp' ? 'datetime-local' : 'number'}
                  step={strategy === 'timestamp' ? 1 : undefined}
                  value={value}
                  onChange={(event) => changed(setValue)(event.target.value)}
                />
              </div>
            ) : null}
          </div>
          {preview ? (
            <Table>
              <TableHeader>
                <TableRow>
                  <TableHead>Partition</TableHead>
                  <TableHead className="text-right">Now</TableHead>
                  <TableHead className="text-right">After</TableHead>
                  <TableHead className="text-right">Change</TableHead>
                </TableRow>
              </TableHeader>
              <TableBody>
                {preview.map((row) => (
                  <TableRow key={`${row.topic}-${row.partition}`}>
                    <TableCell>{row.partition}</TableCell>
                    <TableCell className="text-right tabular-nums">
                      {formatNumber(row.previous_offset)}
                    </TableCell>
                    <TableCell className="text-right tabular-nums">
                      {formatNumber(row.new_offset)}
                    </TableCell>
                    <TableCell className="text-right tabular-nums">
                      {row.previous_offset == null
                        ? '—'
                        : formatNumber(row.new_offset - row.previous_offset)}
                    </TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          ) : null}
          <DialogFooter>
            <Button variant="outline" onClick={onClose}>
              Cancel
            </Button>
            <Button
              type="submit"
              variant={preview ? 'destructive' : 'default'}
              disabled={reset.isPending || topic === '' || request(true) === null}
            >
              {preview ? 'Apply' : 'Preview'}
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}
