import { useVirtualizer } from '@tanstack/react-virtual';
import { CheckIcon, ChevronRightIcon, CopyIcon } from 'lucide-react';
import { useId, useRef, useState } from 'react';
import type { DecodedPayload, Message } from '@/api/types';
import { Button } from '@/components/ui/button';
import { formatBytes, formatTimestamp } from '@/lib/format';
import { cn } from '@/lib/utils';

const ROW_HEIGHT_PX = 36;
const GRID =
  'grid grid-cols-[2rem_5rem_7rem_12rem_minmax(8rem,1fr)_minmax(12rem,3fr)] gap-3 items-center';

/** Pretty JSON when the payload is JSON, else the text as it is. */
export function prettyPayload(payload: DecodedPayload | null | undefined): string {
  if (!payload) return 'null';
  if (payload.json !== undefined) return JSON.stringify(payload.json, null, 2);
  if (/^\s*[[{]/.test(payload.text)) {
    try {
      return JSON.stringify(JSON.parse(payload.text), null, 2);
    } catch {
      // Not JSON after all: show it raw.
    }
  }
  return payload.text;
}

/**
 * Results of a search, virtualised (only the rows on screen are in the DOM,
 * so ten thousand messages scroll smoothly). A row expands in place to show
 * the pretty value, headers and metadata, each with a copy button.
 */
export function MessageTable({ messages }: { messages: Message[] }) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const columnsId = useId();
  const [expanded, setExpanded] = useState<Set<string>>(() => new Set());
  const virtualizer = useVirtualizer({
    count: messages.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT_PX,
    overscan: 12,
    getItemKey: (index) => messageId(messages[index]),
  });

  const toggle = (id: string) =>
    setExpanded((current) => {
      const next = new Set(current);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  return (
    <div className="rounded-md border" data-testid="message-table">
      {/* Column titles: each row's button is described by them, so a screen reader says
          what its values are (the button's name stays its visible text, for voice control). */}
      <div
        id={columnsId}
        aria-hidden="true"
        className={cn(
          GRID,
          'border-b px-3 py-2 text-xs font-medium uppercase tracking-wide text-muted-foreground',
        )}
      >
        <span />
        <span>Partition</span>
        <span>Offset</span>
        <span>Timestamp</span>
        <span>Key</span>
        <span>Value</span>
      </div>
      <div ref={scrollRef} className="max-h-[60vh] overflow-auto">
        <ul
          aria-label="Messages"
          className="relative w-full"
          style={{ height: virtualizer.getTotalSize() }}
        >
          {virtualizer.getVirtualItems().map((item) => {
            const message = messages[item.index];
            if (!message) return null;
            const id = messageId(message);
            const open = expanded.has(id);
            return (
              <li
                key={item.key}
                // Only the rows on screen exist: say where this one is in the whole list.
                aria-setsize={messages.length}
                aria-posinset={item.index + 1}
                data-index={item.index}
                ref={virtualizer.measureElement}
                className="absolute left-0 w-full border-b"
                style={{ transform: `translateY(${item.start}px)` }}
              >
                <button
                  type="button"
                  data-testid="message-row"
                  aria-expanded={open}
                  aria-describedby={columnsId}
                  onClick={() => toggle(id)}
                  className={cn(
                    GRID,
                    'w-full px-3 text-left text-sm outline-none hover:bg-muted/50 focus-visible:bg-muted focus-visible:ring-[3px] focus-visible:ring-ring/50',
                  )}
                  style={{ height: ROW_HEIGHT_PX }}
                >
                  <ChevronRightIcon
                    className={cn('size-4 transition-transform', open && 'rotate-90')}
                    aria-hidden="true"
                  />
                  <span className="tabular-nums" data-testid="message-partition">
                    {message.partition}
                  </span>
                  <span className="tabular-nums">{message.offset}</span>
                  <span className="tabular-nums text-muted-foreground">
                    {formatTimestamp(message.timestamp)}
                  </span>
                  <span className="truncate font-mono text-xs" data-testid="message-key">
                    {message.key ? (
                      message.key.text
                    ) : (
                      <em className="text-muted-foreground">null</em>
                    )}
                  </span>
                  <span className="truncate font-mono text-xs" data-testid="message-value">
                    {message.value ? (
                      message.value.text
                    ) : (
                      <em className="text-muted-foreground">tombstone</em>
                    )}
                  </span>
                </button>
                {open ? <MessageDetails message={message} /> : null}
              </li>
            );
          })}
        </ul>
      </div>
    </div>
  );
}

function messageId(message: Message | undefined): string {
  return message ? `${message.partition}:${message.offset}` : '';
}

function MessageDetails({ message }: { message: Message }) {
  const value = prettyPayload(message.value);
  const metadata = {
    partition: message.partition,
    offset: message.offset,
    timestamp: message.timestamp,
    timestamp_type: message.timestamp_type,
    size: formatBytes(message.size_bytes),
    compression: message.compression,
    key_encoding: message.key?.encoding ?? null,
    value_encoding: message.value?.encoding ?? null,
    transactional: message.is_transactional ?? false,
    producer_id: message.producer_id ?? null,
  };
  const notes = [message.key, message.value]
    .flatMap((payload) =>
      payload ? [payload.error, payload.truncated ? 'cut at 1 MiB' : undefined] : [],
    )
    .filter(Boolean);
  return (
    <div className="grid gap-4 bg-muted/30 px-12 py-4 lg:grid-cols-[2fr_1fr]">
      <div className="min-w-0 space-y-2">
        <DetailBlock title={`Value (${message.value?.encoding ?? 'null'})`} text={value} />
        {notes.length > 0 ? <p className="text-xs text-warning">{notes.join(' · ')}</p> : null}
      </div>
      <div className="space-y-4">
        <DetailBlock title="Key" text={prettyPayload(message.key)} />
        <DetailBlock
          title={`Headers (${message.headers.length})`}
          text={message.headers.length ? JSON.stringify(message.headers, null, 2) : '—'}
        />
        <DetailBlock title="Metadata" text={JSON.stringify(metadata, null, 2)} />
      </div>
    </div>
  );
}

function DetailBlock({ title, text }: { title: string; text: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <section className="min-w-0 space-y-1">
      <div className="flex items-center justify-between">
        <h3 className="text-xs font-medium uppercase tracking-wide text-muted-foreground">
          {title}
        </h3>
        <Button
          variant="ghost"
          size="icon-sm"
          aria-label={`Copy ${title}`}
          onClick={() =>
            void navigator.clipboard?.writeText(text).then(() => {
              setCopied(true);
              window.setTimeout(() => setCopied(false), 1500);
            })
          }
        >
          {copied ? <CheckIcon /> : <CopyIcon />}
        </Button>
      </div>
      <pre className="max-h-80 overflow-auto rounded-md border bg-background p-3 font-mono text-xs whitespace-pre-wrap break-all">
        {text}
      </pre>
    </section>
  );
}
