const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/** 1536 -> "1.5 KiB". Binary units, as Kafka's size settings are. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '—';
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${bytes < 0 ? '-' : ''}${value.toFixed(digits)} ${BYTE_UNITS[unit]}`;
}

/** 1536 -> "1.5 KiB/s": a byte rate, in the units of `formatBytes`. */
export function formatBytesPerSecond(bytesPerSecond: number | null | undefined): string {
  const bytes = formatBytes(bytesPerSecond);
  return bytes === '—' ? bytes : `${bytes}/s`;
}

/** 0.25 -> "0.25/s", 12.34 -> "12.3/s", 4321 -> "4,321/s": an event rate. */
export function formatRate(perSecond: number | null | undefined): string {
  if (perSecond === null || perSecond === undefined || !Number.isFinite(perSecond)) return '—';
  const magnitude = Math.abs(perSecond);
  const digits = magnitude === 0 || magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : 2;
  return `${new Intl.NumberFormat('en-US', { maximumFractionDigits: digits }).format(perSecond)}/s`;
}

/** Milliseconds since the epoch -> local "13:45", for chart axes. */
export function formatClock(epochMs: number): string {
  const date = new Date(epochMs);
  return `${String(date.getHours()).padStart(2, '0')}:${String(date.getMinutes()).padStart(2, '0')}`;
}

const integerFormat = new Intl.NumberFormat('en-US');

/** 1234567 -> "1,234,567". */
export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return integerFormat.format(value);
}

/** Milliseconds since the epoch -> local "2025-01-31 13:45:12.345". */
export function formatTimestamp(epochMs: number | null | undefined): string {
  if (epochMs === null || epochMs === undefined || epochMs < 0) return '—';
  const date = new Date(epochMs);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.` +
    pad(date.getMilliseconds(), 3)
  );
}

/** 1500 -> "1.5 s", 90000 -> "1.5 min". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}
