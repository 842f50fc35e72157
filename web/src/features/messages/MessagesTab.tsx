import {
  AlertTriangleIcon,
  CircleXIcon,
  DownloadIcon,
  PlayIcon,
  RadioIcon,
  SquareIcon,
} from 'lucide-react';
import { type FormEvent, useEffect, useId, useMemo, useRef, useState } from 'react';
import { exportUrl, useMessageSearch } from '@/api/messages';
import { useTopic } from '@/api/topics';
import type { Decoder, MessageSearchParams, MessageStart } from '@/api/types';
import { LazyCodeEditor } from '@/components/code-editor';
import {
  type FilterDiagnostic,
  filterDiagnosticFromProblem,
  filterDiagnosticFromThrown,
} from '@/components/code-editor/filter-diagnostics';
import { EmptyState, ErrorState } from '@/components/states';
import { Button } from '@/components/ui/button';
import { Checkbox, Input, Label, NativeSelect } from '@/components/ui/input';
import { useTopicName } from '@/features/topics/TopicPage';
import { useCluster } from '@/lib/cluster';
import { formatBytes, formatDuration, formatNumber } from '@/lib/format';
import { useUrlState } from '@/lib/url-state';
import { cn, range } from '@/lib/utils';
import { FILTER_EXAMPLES } from './filter-examples';
import { MessageTable } from './MessageTable';

/** The search form is URL state: a link reproduces the exact search. */
export const MESSAGES_URL_DEFAULTS = {
  start: 'newest' as MessageStart,
  offset: 0,
  /** `datetime-local` text, local time. */
  at: '',
  /** -1: all partitions. */
  partition: -1,
  max: 50,
  key_decoder: 'auto' as Decoder,
  value_decoder: 'auto' as Decoder,
  filter: '',
  follow: false,
};

const DONE_REASONS: Record<string, string> = {
  max_reached: 'max results reached',
  end_reached: 'end of the topic',
  time_limit: 'time limit reached',
  scan_limit: 'scan limit reached',
  filter_errors: 'stopped: the filter kept failing',
  cancelled: 'cancelled',
};

const DECODERS: Decoder[] = ['auto', 'text', 'json', 'hex', 'base64', 'msgpack'];
const MAX_RESULTS = [20, 50, 100, 500, 1000, 5000];

export function toSearchParams(state: typeof MESSAGES_URL_DEFAULTS): MessageSearchParams {
  return {
    start: state.start,
    max: state.max,
    key_decoder: state.key_decoder,
    value_decoder: state.value_decoder,
    follow: state.follow || undefined,
    ...(state.start === 'offset' ? { offset: state.offset } : {}),
    ...(state.start === 'timestamp' && state.at ? { timestamp: new Date(state.at).getTime() } : {}),
    ...(state.partition >= 0 ? { partition: state.partition } : {}),
    ...(state.filter.trim() ? { filter: state.filter } : {}),
  };
}

export default function MessagesTab() {
  const cluster = useCluster();
  const topic = useTopicName();
  const id = useId();
  const details = useTopic(cluster, topic);
  const [state, setState] = useUrlState(MESSAGES_URL_DEFAULTS);
  const search = useMessageSearch(cluster, topic);
  const [filterOpen, setFilterOpen] = useState(state.filter !== '');
  // The filter text the last search ran with: the server's verdict is about that text only.
  const [searchedFilter, setSearchedFilter] = useState(state.filter);
  const run = () => {
    setSearchedFilter(state.filter);
    search.start(toSearchParams(state));
  };

  // Opening the tab runs the search in the URL once (a shared link shows its results).
  const ranOnce = useRef(false);
  useEffect(() => {
    if (ranOnce.current) return;
    ranOnce.current = true;
    search.start(toSearchParams(state));
  }, [search, state]);

  const filterDiagnostic = useSearchFilterDiagnostic(search, state.filter === searchedFilter);
  const filterDiagnostics = useMemo(
    () => (filterDiagnostic ? [filterDiagnostic] : []),
    [filterDiagnostic],
  );
  // A filter the server refused is shown where it is edited, even if the editor was folded.
  useEffect(() => {
    if (filterDiagnostic?.severity === 'error') setFilterOpen(true);
  }, [filterDiagnostic]);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    run();
  };
  const partitionCount = details.data?.partitions.length ?? 0;
  const running = search.status === 'running';

  return (
    <div className="space-y-4">
      <form onSubmit={submit} className="space-y-4" aria-label="Message search">
        <div className="flex flex-wrap items-end gap-3">
          <Field label="Start" htmlFor={`${id}-start`}>
            <NativeSelect
              id={`${id}-start`}
              value={state.start}
              onChange={(event) =>
                setState({ start: event.target.value as MessageStart }, { replace: true })
              }
            >
              <option value="newest">Newest</option>
              <option value="oldest">Oldest</option>
              <option value="offset">Offset</option>
              <option value="timestamp">Timestamp</option>
            </NativeSelect>
          </Field>
          {state.start === 'offset' ? (
            <Field label="Offset" htmlFor={`${id}-offset`}>
              <Input
                id={`${id}-offset`}
                type="number"
                min={0}
                className="w-32"
                value={state.offset}
                onChange={(event) =>
                  setState({ offset: Number(event.target.value) }, { replace: true })
                }
              />
            </Field>
          ) : null}
          {state.start === 'timestamp' ? (
            <Field label="Time" htmlFor={`${id}-at`}>
              <Input
                id={`${id}-at`}
                type="datetime-local"
                step={1}
                value={state.at}
                onChange={(event) => setState({ at: event.target.value }, { replace: true })}
              />
            </Field>
          ) : null}
          <Field label="Partition" htmlFor={`${id}-partition`}>
            <NativeSelect
              id={`${id}-partition`}
              value={state.partition}
              onChange={(event) =>
                setState({ partition: Number(event.target.value) }, { replace: true })
              }
            >
              <option value={-1}>All</option>
              {range(partitionCount).map((partition) => (
                <option key={partition} value={partition}>
                  {partition}
                </option>
              ))}
            </NativeSelect>
          </Field>
          <Field label="Max results" htmlFor={`${id}-max`}>
            <NativeSelect
              id={`${id}-max`}
              value={state.max}
              onChange={(event) => setState({ max: Number(event.target.value) }, { replace: true })}
            >
              {MAX_RESULTS.map((max) => (
                <option key={max} value={max}>
                  {max}
                </option>
              ))}
            </NativeSelect>
          </Field>
          <Field label="Key decoder" htmlFor={`${id}-key`}>
            <NativeSelect
              id={`${id}-key`}
              value={state.key_decoder}
              onChange={(event) => setState({ key_decoder: event.target.value }, { replace: true })}
            >
              {DECODERS.map((decoder) => (
                <option key={decoder} value={decoder}>
                  {decoder}
                </option>
              ))}
            </NativeSelect>
          </Field>
          <Field label="Value decoder" htmlFor={`${id}-value`}>
            <NativeSelect
              id={`${id}-value`}
              value={state.value_decoder}
              onChange={(event) =>
                setState({ value_decoder: event.target.value }, { replace: true })
              }
            >
              {DECODERS.map((decoder) => (
                <option key={decoder} value={decoder}>
                  {decoder}
                </option>
              ))}
            </NativeSelect>
          </Field>
          <Label className="h-9">
            <Checkbox
              checked={state.follow}
              onChange={(event) => setState({ follow: event.target.checked })}
            />
            <RadioIcon className="size-4" aria-hidden="true" /> Live tail
          </Label>
        </div>
        {/* Open when a link brings a filter; afterwards the user's toggle alone decides, so
            clearing the filter does not fold the editor away mid-edit. */}
        <details
          className="group rounded-md border"
          open={filterOpen}
          onToggle={(event) => setFilterOpen(event.currentTarget.open)}
        >
          <summary className="cursor-pointer px-3 py-2 text-sm font-medium outline-none focus-visible:ring-[3px] focus-visible:ring-ring/50">
            JavaScript filter {state.filter ? <span className="text-primary">(active)</span> : null}
          </summary>
          <div className="space-y-2 border-t p-3">
            <p className="text-xs text-muted-foreground">
              A function body run on the server for each message, with <code>key</code>,{' '}
              <code>value</code> (parsed JSON when it is JSON), <code>headers</code>,{' '}
              <code>partition</code>, <code>offset</code> and <code>timestamp</code>; return true to
              keep the message. Ctrl+Enter runs the search.
            </p>
            <LazyCodeEditor
              ariaLabel="JavaScript filter"
              language="javascript"
              height={120}
              value={state.filter}
              onChange={(filter) => setState({ filter }, { replace: true })}
              onSubmit={run}
              diagnostics={filterDiagnostics}
            />
            {filterDiagnostic ? <FilterDiagnosticLine diagnostic={filterDiagnostic} /> : null}
            <div className="flex flex-wrap gap-2">
              {FILTER_EXAMPLES.map((example) => (
                <Button
                  key={example.label}
                  variant="outline"
                  size="sm"
                  onClick={() => setState({ filter: example.source }, { replace: true })}
                >
                  {example.label}
                </Button>
              ))}
            </div>
          </div>
        </details>
        <div className="flex flex-wrap items-center gap-2">
          {running ? (
            <Button variant="secondary" onClick={search.stop}>
              <SquareIcon /> Stop
            </Button>
          ) : (
            <Button type="submit">
              <PlayIcon /> Search
            </Button>
          )}
          {/* The server runs the same search again and streams the file: no browser memory limit. */}
          <Button variant="outline" asChild>
            <a
              href={exportUrl(cluster, topic, toSearchParams(state), 'jsonl')}
              download={`${topic}.jsonl`}
            >
              <DownloadIcon /> JSON lines
            </a>
          </Button>
          <Button variant="outline" asChild>
            <a
              href={exportUrl(cluster, topic, toSearchParams(state), 'csv')}
              download={`${topic}.csv`}
            >
              <DownloadIcon /> CSV
            </a>
          </Button>
          <SearchStatusLine search={search} />
        </div>
      </form>
      {search.error ? (
        <ErrorState error={search.error} onRetry={run} />
      ) : search.messages.length === 0 ? (
        search.status === 'running' ? (
          <EmptyState
            title="Searching…"
            description={state.follow ? 'Waiting for new messages.' : undefined}
          />
        ) : (
          <EmptyState
            title="No messages"
            description="Nothing matched. Try another start position or filter."
          />
        )
      ) : (
        <MessageTable messages={search.messages} />
      )}
    </div>
  );
}

function Field({
  label,
  htmlFor,
  children,
}: {
  label: string;
  htmlFor: string;
  children: React.ReactNode;
}) {
  return (
    <div className="grid gap-1">
      <label htmlFor={htmlFor} className="text-xs font-medium text-muted-foreground">
        {label}
      </label>
      {children}
    </div>
  );
}

/**
 * What the server said about the filter of the last search: why it refused
 * it (422, or an `error` event), else the last message it threw on. Null once
 * the filter was edited since (`current` false): the positions no longer fit.
 */
function useSearchFilterDiagnostic(
  search: ReturnType<typeof useMessageSearch>,
  current: boolean,
): FilterDiagnostic | null {
  const problem = search.error?.problem;
  const lastThrown = search.progress?.last_filter_error;
  return useMemo(() => {
    if (!current) return null;
    if (problem) return filterDiagnosticFromProblem(problem);
    return lastThrown ? filterDiagnosticFromThrown(lastThrown) : null;
  }, [current, problem, lastThrown]);
}

function FilterDiagnosticLine({ diagnostic }: { diagnostic: FilterDiagnostic }) {
  const error = diagnostic.severity === 'error';
  const Icon = error ? CircleXIcon : AlertTriangleIcon;
  const where =
    diagnostic.line === null
      ? null
      : `line ${diagnostic.line}${diagnostic.column === null ? '' : `, column ${diagnostic.column}`}`;
  return (
    <p
      role={error ? 'alert' : 'status'}
      data-testid="filter-error"
      className={cn(
        'flex items-start gap-2 text-sm',
        error ? 'text-destructive' : 'text-muted-foreground',
      )}
    >
      <Icon className={cn('mt-0.5 size-4 shrink-0', !error && 'text-warning')} aria-hidden="true" />
      <span>
        {error ? null : 'The filter threw on a message (skipped): '}
        {diagnostic.message}
        {where ? <span className="font-mono text-xs"> ({where})</span> : null}
      </span>
    </p>
  );
}

function SearchStatusLine({ search }: { search: ReturnType<typeof useMessageSearch> }) {
  const { progress, status, messages } = search;
  return (
    <p className="text-sm text-muted-foreground" role="status" aria-live="polite">
      {formatNumber(messages.length)} shown
      {progress
        ? ` · ${formatNumber(progress.matched)} matched of ${formatNumber(progress.scanned)} scanned · ${formatBytes(progress.bytes)} in ${formatDuration(progress.elapsed_ms)}`
        : ''}
      {status === 'running' ? ' · searching…' : status === 'stopped' ? ' · stopped' : ''}
      {status === 'done' && search.doneReason
        ? ` · ${DONE_REASONS[search.doneReason] ?? search.doneReason}`
        : ''}
      {progress?.filter_errors
        ? ` · filter failed on ${formatNumber(progress.filter_errors)} messages`
        : ''}
    </p>
  );
}
