import { PlusIcon, TrashIcon } from 'lucide-react';
import { type FormEvent, useId, useState } from 'react';
import { toast } from 'sonner';
import { useProduceMessage } from '@/api/messages';
import type { PayloadEncoding, ProduceRequest } from '@/api/types';
import { LazyCodeEditor } from '@/components/code-editor';
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
import { range } from '@/lib/utils';

/** The API's encodings, plus `null` here for a null key or value (a tombstone). */
type EncodingChoice = PayloadEncoding | 'null';
const ENCODINGS: EncodingChoice[] = ['text', 'json', 'base64', 'hex', 'null'];
const COMPRESSIONS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;

interface HeaderRow {
  id: number;
  key: string;
  value: string;
}

let nextHeaderId = 0;

/** Checks the value against its declared encoding before sending. */
export function payloadError(encoding: EncodingChoice, text: string): string | null {
  switch (encoding) {
    case 'json':
      try {
        JSON.parse(text);
        return null;
      } catch (error) {
        return `Not valid JSON: ${(error as Error).message}`;
      }
    case 'hex':
      return /^([0-9a-fA-F]{2})*$/.test(text.replace(/\s+/g, ''))
        ? null
        : 'Hex needs pairs of 0-9, a-f.';
    case 'base64':
      return /^[A-Za-z0-9+/]*={0,2}$/.test(text.trim()) ? null : 'Not valid base64.';
    default:
      return null;
  }
}

export default function ProduceDialog({
  cluster,
  topic,
  partitions,
  onClose,
}: {
  cluster: string;
  topic: string;
  partitions: number;
  onClose: () => void;
}) {
  const id = useId();
  const produce = useProduceMessage(cluster, topic);
  const [partition, setPartition] = useState(-1);
  const [compression, setCompression] = useState<(typeof COMPRESSIONS)[number]>('none');
  const [keyEncoding, setKeyEncoding] = useState<EncodingChoice>('text');
  const [valueEncoding, setValueEncoding] = useState<EncodingChoice>('json');
  const [key, setKey] = useState('');
  const [value, setValue] = useState('{\n  \n}');
  const [headers, setHeaders] = useState<HeaderRow[]>([]);
  const keyError = keyEncoding === 'null' ? null : payloadError(keyEncoding, key);
  const valueError = valueEncoding === 'null' ? null : payloadError(valueEncoding, value);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (keyError || valueError) return;
    const request: ProduceRequest = {
      ...(keyEncoding === 'null' ? { key: null } : { key, key_encoding: keyEncoding }),
      ...(valueEncoding === 'null' ? { value: null } : { value, value_encoding: valueEncoding }),
      headers: headers
        .filter((header) => header.key !== '')
        .map(({ key: name, value: text }) => ({ key: name, value: text })),
      compression,
      ...(partition >= 0 ? { partition } : {}),
    };
    produce.mutate(request, {
      onSuccess: (result) => {
        toast.success(`Produced to partition ${result.partition} at offset ${result.offset}`);
        onClose();
      },
      onError: (error) =>
        toast.error('Message not produced', { description: describeError(error).detail }),
    });
  };

  return (
    <Dialog open onOpenChange={(open) => !open && onClose()}>
      <DialogContent className="sm:max-w-2xl">
        <form className="grid gap-4" onSubmit={submit} noValidate>
          <DialogHeader>
            <DialogTitle>Produce to {topic}</DialogTitle>
            <DialogDescription>
              Without a partition, the key's hash picks one (round robin for no key).
            </DialogDescription>
          </DialogHeader>
          <div className="grid gap-4 sm:grid-cols-2">
            <div className="grid gap-2">
              <label htmlFor={`${id}-partition`} className="text-sm font-medium">
                Partition
              </label>
              <NativeSelect
                id={`${id}-partition`}
                value={partition}
                onChange={(event) => setPartition(Number(event.target.value))}
              >
                <option value={-1}>By key</option>
                {range(partitions).map((index) => (
                  <option key={index} value={index}>
                    {index}
                  </option>
                ))}
              </NativeSelect>
            </div>
            <div className="grid gap-2">
              <label htmlFor={`${id}-compression`} className="text-sm font-medium">
                Compression
              </label>
              <NativeSelect
                id={`${id}-compression`}
                value={compression}
                onChange={(event) =>
                  setCompression(event.target.value as (typeof COMPRESSIONS)[number])
                }
              >
                {COMPRESSIONS.map((name) => (
                  <option key={name} value={name}>
                    {name}
                  </option>
                ))}
              </NativeSelect>
            </div>
          </div>
          <div className="grid gap-2">
            <div className="flex items-center justify-between">
              <label htmlFor={`${id}-key`} className="text-sm font-medium">
                Key
              </label>
              <NativeSelect
                aria-label="Key encoding"
                className="h-8"
                value={keyEncoding}
                onChange={(event) => setKeyEncoding(event.target.value as EncodingChoice)}
              >
                {ENCODINGS.map((encoding) => (
                  <option key={encoding} value={encoding}>
                    {encoding}
                  </option>
                ))}
              </NativeSelect>
            </div>
            <Input
              id={`${id}-key`}
              className="font-mono"
              value={key}
              disabled={keyEncoding === 'null'}
              aria-invalid={keyError !== null}
              onChange={(event) => setKey(event.target.value)}
            />
            {keyError ? <p className="text-sm text-destructive">{keyError}</p> : null}
          </div>
          <div className="grid gap-2">
            <div className="flex items-center justify-between">
              <span className="text-sm font-medium">Value</span>
              <NativeSelect
                aria-label="Value encoding"
                className="h-8"
                value={valueEncoding}
                onChange={(event) => setValueEncoding(event.target.value as EncodingChoice)}
              >
                {ENCODINGS.map((encoding) => (
                  <option key={encoding} value={encoding}>
                    {encoding}
                  </option>
                ))}
              </NativeSelect>
            </div>
            {valueEncoding === 'null' ? (
              <p className="text-sm text-muted-foreground">
                A null value (a tombstone on compacted topics).
              </p>
            ) : (
              <LazyCodeEditor
                ariaLabel="Message value"
                language={valueEncoding === 'json' ? 'json' : 'javascript'}
                height={180}
                value={value}
                onChange={setValue}
              />
            )}
            {valueError ? <p className="text-sm text-destructive">{valueError}</p> : null}
          </div>
          <fieldset className="grid gap-2">
            <legend className="mb-2 text-sm font-medium">Headers</legend>
            {headers.map((header, index) => (
              <div key={header.id} className="flex gap-2">
                <Input
                  aria-label={`Header ${index + 1} name`}
                  value={header.key}
                  onChange={(event) =>
                    setHeaders(
                      headers.map((row) =>
                        row.id === header.id ? { ...row, key: event.target.value } : row,
                      ),
                    )
                  }
                />
                <Input
                  aria-label={`Header ${index + 1} value`}
                  value={header.value}
                  onChange={(event) =>
                    setHeaders(
                      headers.map((row) =>
                        row.id === header.id ? { ...row, value: event.target.value } : row,
                      ),
                    )
                  }
                />
                <Button
                  variant="ghost"
                  size="icon"
                  aria-label={`Remove header ${index + 1}`}
                  onClick={() => setHeaders(headers.filter((row) => row.id !== header.id))}
                >
                  <TrashIcon />
                </Button>
              </div>
            ))}
            <Button
              variant="outline"
              size="sm"
              className="w-fit"
              onClick={() => setHeaders([...headers, { id: nextHeaderId++, key: '', value: '' }])}
            >
              <PlusIcon /> Add header
            </Button>
          </fieldset>
          <DialogFooter>
            <Button variant="outline" onClick={onClose}>
              Cancel
            </Button>
            <Button
              type="submit"
              disabled={produce.isPending || keyError !== null || valueError !== null}
            >
              Produce
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}
