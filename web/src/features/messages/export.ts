import type { Message } from '@/api/types';

/** One JSON object per line, as the backend's export will produce. */
export function toJsonLines(messages: Message[]): string {
  return (
    messages.map((message) => JSON.stringify(message)).join('\n') + (messages.length ? '\n' : '')
  );
}

const CSV_COLUMNS = ['partition', 'offset', 'timestamp', 'key', 'value', 'headers'] as const;

function csvCell(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

export function toCsv(messages: Message[]): string {
  const rows = messages.map((message) =>
    [
      String(message.partition),
      String(message.offset),
      new Date(message.timestamp).toISOString(),
      message.key.text ?? '',
      message.value.text ?? '',
      JSON.stringify(message.headers),
    ]
      .map(csvCell)
      .join(','),
  );
  return `${[CSV_COLUMNS.join(','), ...rows].join('\n')}\n`;
}

export function download(filename: string, text: string, type: string) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  link.click();
  URL.revokeObjectURL(url);
}
