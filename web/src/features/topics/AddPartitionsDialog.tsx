import { type FormEvent, useId, useState } from 'react';
import { toast } from 'sonner';
import { useAddPartitions } from '@/api/topics';
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
import { Input } from '@/components/ui/input';

export function AddPartitionsDialog({
  cluster,
  topic,
  current,
  open,
  onOpenChange,
}: {
  cluster: string;
  topic: string;
  current: number;
  open: boolean;
  onOpenChange: (open: boolean) => void;
}) {
  const id = useId();
  const addPartitions = useAddPartitions(cluster, topic);
  const [count, setCount] = useState('');
  const total = Number(count);
  const error =
    count === '' || (Number.isInteger(total) && total > current) ? null : `More than ${current}.`;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (count === '' || error) return;
    addPartitions.mutate(total, {
      onSuccess: () => {
        toast.success(`${topic} now has ${total} partitions`);
        setCount('');
        onOpenChange(false);
      },
      onError: (failure) =>
        toast.error('Could not add partitions', { description: describeError(failure).detail }),
    });
  };

  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent>
        <form className="grid gap-4" onSubmit={submit} noValidate>
          <DialogHeader>
            <DialogTitle>Add partitions</DialogTitle>
            <DialogDescription>
              The new total. Keys hash to different partitions afterwards, so per-key order changes
              for keyed producers.
            </DialogDescription>
          </DialogHeader>
          <div className="grid gap-2">
            <label htmlFor={id} className="text-sm font-medium">
              Total partitions (now {current})
            </label>
            <Input
              id={id}
              type="number"
              min={current + 1}
              value={count}
              aria-invalid={error !== null}
              onChange={(event) => setCount(event.target.value)}
            />
            {error ? <p className="text-sm text-destructive">{error}</p> : null}
          </div>
          <DialogFooter>
            <Button variant="outline" onClick={() => onOpenChange(false)}>
              Cancel
            </Button>
            <Button
              type="submit"
              disabled={addPartitions.isPending || count === '' || error !== null}
            >
              Add partitions
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}
