import { PlusIcon, TrashIcon } from 'lucide-react';
import { type FormEvent, useId, useState } from 'react';
import { useNavigate } from 'react-router';
import { toast } from 'sonner';
import { useCreateTopic } from '@/api/topics';
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
import { paths } from '@/lib/cluster';
import { TOPIC_PRESETS, validateTopicName } from './topic-presets';

interface ConfigRow {
  id: number;
  name: string;
  value: string;
}

let nextRowId = 0;
const rowsOf = (configs: Record<string, string>): ConfigRow[] =>
  Object.entries(configs).map(([name, value]) => ({ id: nextRowId++, name, value }));

export function CreateTopicDialog({
  cluster,
  open,
  onOpenChange,
}: {
  cluster: string;
  open: boolean;
  onOpenChange: (open: boolean) => void;
}) {
  const id = useId();
  const navigate = useNavigate();
  const create = useCreateTopic(cluster);
  const [name, setName] = useState('');
  const [partitions, setPartitions] = useState('1');
  const [replicationFactor, setReplicationFactor] = useState('1');
  const [preset, setPreset] = useState('default');
  const [rows, setRows] = useState<ConfigRow[]>([]);
  const [submitted, setSubmitted] = useState(false);

  const nameError = validateTopicName(name.trim());
  const partitionsError =
    Number(partitions) >= 1 && Number.isInteger(Number(partitions)) ? null : 'At least 1.';
  const replicationError =
    Number(replicationFactor) >= 1 && Number.isInteger(Number(replicationFactor))
      ? null
      : 'At least 1.';
  const invalid = nameError !== null || partitionsError !== null || replicationError !== null;

  const reset = () => {
    setName('');
    setPartitions('1');
    setReplicationFactor('1');
    setPreset('default');
    setRows([]);
    setSubmitted(false);
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setSubmitted(true);
    if (invalid) return;
    const configs = Object.fromEntries(
      rows
        .filter((row) => row.name.trim() !== '')
        .map((row) => [row.name.trim(), row.value.trim()]),
    );
    const topic = name.trim();
    create.mutate(
      {
        name: topic,
        partitions: Number(partitions),
        replication_factor: Number(replicationFactor),
        configs,
      },
      {
        onSuccess: () => {
          toast.success(`Topic ${topic} created`);
          onOpenChange(false);
          reset();
          navigate(paths.topic(cluster, topic));
        },
        onError: (error) =>
          toast.error('Could not create the topic', { description: describeError(error).detail }),
      },
    );
  };

  const fieldError = (message: string | null) =>
    submitted && message ? <p className="text-sm text-destructive">{message}</p> : null;

  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent className="sm:max-w-xl">
        <form className="grid gap-4" onSubmit={submit} noValidate>
          <DialogHeader>
            <DialogTitle>Create topic</DialogTitle>
            <DialogDescription>
              Partitions can be added later; they cannot be removed.
            </DialogDescription>
          </DialogHeader>
          <div className="grid gap-2">
            <label htmlFor={`${id}-name`} className="text-sm font-medium">
              Name
            </label>
            <Input
              id={`${id}-name`}
              value={name}
              autoComplete="off"
              aria-invalid={submitted && nameError !== null}
              onChange={(event) => setName(event.target.value)}
            />
            {fieldError(nameError)}
          </div>
          <div className="grid grid-cols-2 gap-4">
            <div className="grid gap-2">
              <label htmlFor={`${id}-partitions`} className="text-sm font-medium">
                Partitions
              </label>
              <Input
                id={`${id}-partitions`}
                type="number"
                min={1}
                value={partitions}
                aria-invalid={submitted && partitionsError !== null}
                onChange={(event) => setPartitions(event.target.value)}
              />
              {fieldError(partitionsError)}
            </div>
            <div className="grid gap-2">
              <label htmlFor={`${id}-rf`} className="text-sm font-medium">
                Replication factor
              </label>
              <Input
                id={`${id}-rf`}
                type="number"
                min={1}
                value={replicationFactor}
                aria-invalid={submitted && replicationError !== null}
                onChange={(event) => setReplicationFactor(event.target.value)}
              />
              {fieldError(replicationError)}
            </div>
          </div>
          <div className="grid gap-2">
            <label htmlFor={`${id}-preset`} className="text-sm font-medium">
              Preset
            </label>
            <NativeSelect
              id={`${id}-preset`}
              className="w-full"
              value={preset}
              onChange={(event) => {
                const chosen = TOPIC_PRESETS.find(
                  (candidate) => candidate.id === event.target.value,
                );
                setPreset(event.target.value);
                setRows(rowsOf(chosen?.configs ?? {}));
              }}
            >
              {TOPIC_PRESETS.map((candidate) => (
                <option key={candidate.id} value={candidate.id}>
                  {candidate.label} — {candidate.description}
                </option>
              ))}
            </NativeSelect>
          </div>
          <fieldset className="grid gap-2">
            <legend className="mb-2 text-sm font-medium">Configs</legend>
            {rows.map((row, index) => (
              <div key={row.id} className="flex gap-2">
                <Input
                  aria-label={`Config ${index + 1} name`}
                  placeholder="retention.ms"
                  className="font-mono"
                  value={row.name}
                  onChange={(event) =>
                    setRows(
                      rows.map((other) =>
                        other.id === row.id ? { ...other, name: event.target.value } : other,
                      ),
                    )
                  }
                />
                <Input
                  aria-label={`Config ${index + 1} value`}
                  className="font-mono"
                  value={row.value}
                  onChange={(event) =>
                    setRows(
                      rows.map((other) =>
                        other.id === row.id ? { ...other, value: event.target.value } : other,
                      ),
                    )
                  }
                />
                <Button
                  variant="ghost"
                  size="icon"
                  aria-label={`Remove config ${index + 1}`}
                  onClick={() => setRows(rows.filter((other) => other.id !== row.id))}
                >
                  <TrashIcon />
                </Button>
              </div>
            ))}
            <Button
              variant="outline"
              size="sm"
              className="w-fit"
              onClick={() => setRows([...rows, { id: nextRowId++, name: '', value: '' }])}
            >
              <PlusIcon /> Add config
            </Button>
          </fieldset>
          <DialogFooter>
            <Button variant="outline" onClick={() => onOpenChange(false)}>
              Cancel
            </Button>
            <Button type="submit" disabled={create.isPending}>
              Create
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}
