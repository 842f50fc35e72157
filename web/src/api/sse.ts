/**
 * A server-sent events parser over a fetch body. Used instead of EventSource
 * because EventSource hides the HTTP status and the problem+json of a failed
 * request, and cannot be aborted per search.
 */

export interface ServerSentEvent {
  event: string;
  data: string;
  id?: string;
}

/**
 * Splits SSE text into events. Feed it chunks as they arrive; it keeps the
 * unfinished tail between calls. Follows the WHATWG rules that matter here:
 * `event:`, `data:` (multi-line joined by \n), `id:`, comments (`:`) ignored,
 * CRLF or LF line ends, an empty line dispatches.
 */
export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private id: string | undefined;

  push(chunk: string): ServerSentEvent[] {
    this.buffer += chunk;
    const events: ServerSentEvent[] = [];
    for (;;) {
      const newline = this.buffer.search(/\r\n|\r|\n/);
      if (newline < 0) break;
      const line = this.buffer.slice(0, newline);
      const separatorLength = this.buffer.startsWith('\r\n', newline) ? 2 : 1;
      this.buffer = this.buffer.slice(newline + separatorLength);
      const dispatched = this.line(line);
      if (dispatched) events.push(dispatched);
    }
    return events;
  }

  private line(line: string): ServerSentEvent | null {
    if (line === '') {
      if (this.data.length === 0) {
        this.event = '';
        return null;
      }
      const dispatched: ServerSentEvent = {
        event: this.event || 'message',
        data: this.data.join('\n'),
        ...(this.id === undefined ? {} : { id: this.id }),
      };
      this.event = '';
      this.data = [];
      return dispatched;
    }
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id') this.id = value;
    return null;
  }
}

/** Yields the events of a streamed response body until it ends or `signal` aborts. */
export async function* readServerSentEvents(
  body: ReadableStream<Uint8Array>,
  signal?: AbortSignal,
): AsyncGenerator<ServerSentEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  try {
    while (!signal?.aborted) {
      const { done, value } = await reader.read();
      if (done) break;
      yield* parser.push(decoder.decode(value, { stream: true }));
    }
    // An event not closed by an empty line before the end is dropped, as the
    // SSE spec says.
    yield* parser.push(decoder.decode());
  } finally {
    reader.releaseLock();
  }
}
