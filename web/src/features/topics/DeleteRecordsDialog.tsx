import { type FormEvent, useId, useState } from 'react';
import { toast } from 'sonner';
import { useDeleteRecords } from '@/api/topics';
import type { PartitionDetails } from '@/api/types';
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
import { formatNumber } from '@/lib/format';

/**
 * Why `text` is not an offset to cut `partition` at, or null when it is:
 * Kafka refuses an offset past the high watermark, and one at or before the
 * log start deletes nothing.
 */
export function deleteRecordsError(text: string, partition: PartitionDetails | undefined) {
  if (text.trim() === '') return 'Enter an offset.';
  const offset = Number(text);
  if (!Number.isSafeInteger(offset) || offset < 0) return 'A whole number, 0 or more.';
  if (!partition) return null;
  const { log_start_offset: start, high_watermark: end } = partition;
  if (end !== null && end !== undefined && offset > end) {
    return `At most the high watermark, ${formatNumber(end)}.`;
  }
  if (start !== null && start !== undefined && offset <= start) {
    return `More than the log start, ${formatNumber(start)}: nothing before it is left.`;
  }
  return null;
}

/** Deletes one partition's records before an offset (moves its log start). */
export function DeleteRecordsDialog({
  cluster,
  topic,
  partitions,
  open,
  onOpenChange,
}: {
  cluster: string;
  topic: string;
  partitions: PartitionDetails[];
  open: boolean;
  onOpenChange: (open: boolean) => void;
}) {
  const id = useId();
  const deleteRecords = useDeleteRecords(cluster, topic);
  const [partitionNumber, setPartitionNumber] = useState(0);
  const [offset, setOffset] = useState('');
  const [touched, setTouched] = useState(false);
  const partition = partitions.find((candidate) => candidate.partition === partitionNumber);
  const error = deleteRecordsError(offset, partition);

  const close = () => {
    setOffset('');
    setTouched(false);
    onOpenChange(false);
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setTouched(true);
    if (error) return;
    deleteRecords.mutate(
      { partitions: [{ partition: partitionNumber, offset: Number(offset) }] },
      {
        onSuccess: (results) => {
          const result = results.find((candidate) => candidate.partition === partitionNumber);
          if (result?.error) {
            toast.error('Records not deleted', { description: result.error });
            return;
          }
          toast.success(
            `Partition ${partitionNumber} of ${topic} now starts at offset ${formatNumber(result?.low_watermark ?? Number(offset))}`,
          );
          close();
        },
        onError: (failure) =>
          toast.error('Records not deleted', { description: describeError(failure).detail }),
      },
    );
  };

  return (
    <Dialog open={open} onOpenChange={(next) => (next ? onOpenChange(true) : close())}>
      <DialogContent>
        <form className="grid gap-4" onSubmit={submit} noValidate>
          <DialogHeader>
            <DialogTitle>Delete records</DialogTitle>
            <DialogDescription>
              Deletes the records of one partition before an offset. Consumers behind it continue
              from the new log start. This cannot be undone.
            </DialogDescription>
          </DialogHeader>
          <div className="grid gap-4 sm:grid-cols-2">
            <div className="grid gap-2">
              <label htmlFor={`${id}-partition`} className="text-sm font-medium">
                Partition
              </label>
              <NativeSelect
                id={`${id}-partition`}
                value={partitionNumber}
                onChange={(event) => setPartitionNumber(Number(event.target.value))}
              >
                {partitions.map((candidate) => (
                  <option key={candidate.partition} value={candidate.partition}>
                    {candidate.partition}
                  </option>
                ))}
              </NativeSelect>
            </div>
            <div className="grid gap-2">
              <label htmlFor={`${id}-offset`} className="text-sm font-medium">
                Before offset
              </label>
              <Input
                id={`${id}-offset`}
                type="number"
                min={0}
                value={offset}
                aria-invalid={touched && error !== null}
                aria-describedby={`${id}-hint ${id}-error`}
                onChange={(event) => {
                  setOffset(event.target.value);
                  setTouched(true);
                }}
              />
            </div>
          </div>
          <p id={`${id}-hint`} className="text-sm text-muted-foreground">
            Log start {formatNumber(partition?.log_start_offset)} · high watermark{' '}
            {formatNumber(partition?.high_watermark)}
          </p>
          <p id={`${id}-error`} className="min-h-5 text-sm text-destructive">
            {touched ? error : null}
          </p>
          <DialogFooter>
            <Button variant="outline" onClick={close}>
              Cancel
            </Button>
            <Button
              type="submit"
              variant="destructive"
              disabled={deleteRecords.isPending || (touched && error !== null)}
            >
              Delete records
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}
