import { InfoIcon, LockIcon, PencilIcon, RotateCcwIcon } from 'lucide-react';
import { type FormEvent, useId, useMemo, useState } from 'react';
import type { ConfigEntry } from '@/api/types';
import { EmptyState } from '@/components/states';
import { Badge } from '@/components/ui/badge';
import { Button } from '@/components/ui/button';
import {
  Dialog,
  DialogContent,
  DialogDescription,
  DialogFooter,
  DialogHeader,
  DialogTitle,
} from '@/components/ui/dialog';
import { Checkbox, Input, Label } from '@/components/ui/input';
import {
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableHeader,
  TableRow,
} from '@/components/ui/table';
import { Tooltip } from '@/components/ui/tooltip';
import { WriteButton } from '@/components/write-action';
import { validateConfigValue } from '@/lib/config-validation';
import { useUrlState } from '@/lib/url-state';

/** Kafka's source names, shortened for a badge. */
export function sourceLabel(source: string): string {
  switch (source) {
    case 'DYNAMIC_TOPIC_CONFIG':
      return 'topic override';
    case 'DYNAMIC_BROKER_CONFIG':
      return 'broker override';
    case 'DYNAMIC_DEFAULT_BROKER_CONFIG':
      return 'cluster default';
    case 'STATIC_BROKER_CONFIG':
      return 'static';
    case 'DEFAULT_CONFIG':
      return 'default';
    default:
      return source.toLowerCase();
  }
}

const URL_DEFAULTS = { q: '', overrides: false };

export interface ConfigEditing {
  /** Set one key (incremental: others are untouched). */
  onSet: (name: string, value: string) => Promise<unknown>;
  /** Remove the override so the default applies again. */
  onReset: (name: string) => Promise<unknown>;
  pending: boolean;
}

/**
 * A searchable config list: defaults vs. overrides, documentation on hover or
 * focus, and (when `editing` is given) edit and reset-to-default per entry.
 * The filter is URL state so a link can point at one config.
 */
export function ConfigTable({
  entries,
  editing,
}: {
  entries: ConfigEntry[];
  editing?: ConfigEditing;
}) {
  const [filters, setFilters] = useUrlState(URL_DEFAULTS);
  const [editingEntry, setEditingEntry] = useState<ConfigEntry | null>(null);
  const visible = useMemo(() => {
    const needle = filters.q.trim().toLowerCase();
    return entries
      .filter((entry) => !filters.overrides || !entry.is_default)
      .filter((entry) => needle === '' || entry.name.toLowerCase().includes(needle))
      .sort((a, b) => a.name.localeCompare(b.name));
  }, [entries, filters]);

  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-center gap-4">
        <Input
          type="search"
          aria-label="Filter configs"
          placeholder="Filter configs…"
          className="max-w-xs"
          value={filters.q}
          onChange={(event) => setFilters({ q: event.target.value }, { replace: true })}
        />
        <Label>
          <Checkbox
            checked={filters.overrides}
            onChange={(event) => setFilters({ overrides: event.target.checked })}
          />
          Overrides only
        </Label>
      </div>
      {visible.length === 0 ? (
        <EmptyState title="No configs match" description="Change the filter to see more." />
      ) : (
        <Table>
          <TableHeader>
            <TableRow>
              <TableHead>Name</TableHead>
              <TableHead>Value</TableHead>
              <TableHead>Source</TableHead>
              {editing ? <TableHead className="w-24 text-right">Actions</TableHead> : null}
            </TableRow>
          </TableHeader>
          <TableBody>
            {visible.map((entry) => (
              <TableRow key={entry.name}>
                <TableCell className="font-mono text-xs">
                  <span className="inline-flex items-center gap-1">
                    {entry.name}
                    {entry.documentation ? (
                      <Tooltip content={entry.documentation}>
                        <button
                          type="button"
                          className="rounded-sm text-muted-foreground outline-none hover:text-foreground focus-visible:ring-[3px] focus-visible:ring-ring/50"
                          aria-label={`About ${entry.name}`}
                        >
                          <InfoIcon className="size-3.5" />
                        </button>
                      </Tooltip>
                    ) : null}
                  </span>
                </TableCell>
                <TableCell
                  className="max-w-md truncate font-mono text-xs"
                  title={entry.value ?? ''}
                >
                  {entry.sensitive ? (
                    <span className="text-muted-foreground">(sensitive)</span>
                  ) : (
                    (entry.value ?? <span className="text-muted-foreground">null</span>)
                  )}
                  {!entry.is_default && entry.default_value != null ? (
                    <span className="block text-muted-foreground">
                      default: {entry.default_value}
                    </span>
                  ) : null}
                </TableCell>
                <TableCell>
                  <Badge variant={entry.is_default ? 'secondary' : 'default'}>
                    {sourceLabel(entry.source)}
                  </Badge>
                  {entry.read_only ? (
                    <LockIcon
                      className="ml-2 inline size-3.5 text-muted-foreground"
                      aria-label="read-only"
                    />
                  ) : null}
                </TableCell>
                {editing ? (
                  <TableCell className="text-right">
                    <div className="inline-flex gap-1">
                      <WriteButton
                        variant="ghost"
                        size="icon-sm"
                        aria-label={`Edit ${entry.name}`}
                        disabled={entry.read_only}
                        onClick={() => setEditingEntry(entry)}
                      >
                        <PencilIcon />
                      </WriteButton>
                      <WriteButton
                        variant="ghost"
                        size="icon-sm"
                        aria-label={`Reset ${entry.name} to default`}
                        disabled={entry.read_only || entry.is_default || editing.pending}
                        onClick={() => void editing.onReset(entry.name)}
                      >
                        <RotateCcwIcon />
                      </WriteButton>
                    </div>
                  </TableCell>
                ) : null}
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
      {editing && editingEntry ? (
        <EditConfigDialog
          entry={editingEntry}
          editing={editing}
          onClose={() => setEditingEntry(null)}
        />
      ) : null}
    </div>
  );
}

function EditConfigDialog({
  entry,
  editing,
  onClose,
}: {
  entry: ConfigEntry;
  editing: ConfigEditing;
  onClose: () => void;
}) {
  const [value, setValue] = useState(entry.sensitive ? '' : (entry.value ?? ''));
  const [touched, setTouched] = useState(false);
  const inputId = useId();
  const error = validateConfigValue(entry.type, value);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setTouched(true);
    if (error) return;
    void editing.onSet(entry.name, value.trim()).then(onClose, () => undefined);
  };

  return (
    <Dialog open onOpenChange={(open) => !open && onClose()}>
      <DialogContent>
        <form className="grid gap-4" onSubmit={submit} noValidate>
          <DialogHeader>
            <DialogTitle className="font-mono text-base">{entry.name}</DialogTitle>
            {entry.documentation ? (
              <DialogDescription>{entry.documentation}</DialogDescription>
            ) : null}
          </DialogHeader>
          <div className="grid gap-2">
            <label htmlFor={inputId} className="text-sm font-medium">
              Value{' '}
              <span className="font-normal text-muted-foreground">
                ({entry.type.toLowerCase()})
              </span>
            </label>
            <Input
              id={inputId}
              className="font-mono"
              value={value}
              aria-invalid={touched && error !== null}
              aria-describedby={`${inputId}-error`}
              onChange={(event) => {
                setValue(event.target.value);
                setTouched(true);
              }}
            />
            <p id={`${inputId}-error`} className="min-h-5 text-sm text-destructive">
              {touched ? error : null}
            </p>
          </div>
          <DialogFooter>
            <Button variant="outline" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" disabled={editing.pending || (touched && error !== null)}>
              Save
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}
