import { describe, expect, it } from 'vitest';
import { readServerSentEvents, SseParser } from './sse';

describe('SseParser', () => {
  it('dispatches events on a blank line, across chunk boundaries', () => {
    const parser = new SseParser();
    expect(parser.push('event: progress\ndata: {"scan')).toEqual([]);
    expect(parser.push('ned":1}\n\nevent: done\ndata: {}\n\n')).toEqual([
      { event: 'progress', data: '{"scanned":1}' },
      { event: 'done', data: '{}' },
    ]);
  });

  it('joins multi-line data, ignores comments, accepts CRLF, defaults to "message"', () => {
    const parser = new SseParser();
    expect(parser.push(': keep-alive\r\ndata: a\r\ndata: b\r\nid: 7\r\n\r\n')).toEqual([
      { event: 'message', data: 'a\nb', id: '7' },
    ]);
  });

  it('drops an event with no data', () => {
    expect(new SseParser().push('event: ping\n\n')).toEqual([]);
  });
});

describe('readServerSentEvents', () => {
  it('reads a streamed body and drops an unterminated tail', async () => {
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode('event: message\ndata: 1\n\n'));
        controller.enqueue(encoder.encode('data: 2\n\ndata: 3'));
        controller.close();
      },
    });
    const events = [];
    for await (const event of readServerSentEvents(body)) events.push(event.data);
    expect(events).toEqual(['1', '2']);
  });
});
