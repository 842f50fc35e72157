import { describe, expect, it } from 'vitest';
import {
  formatBytes,
  formatBytesPerSecond,
  formatClock,
  formatDuration,
  formatNumber,
  formatRate,
} from './format';

describe('format', () => {
  it('formats bytes in binary units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(5 * 1024 ** 3)).toBe('5.0 GiB');
    expect(formatBytes(null)).toBe('—');
  });

  it('formats counts and durations', () => {
    expect(formatNumber(1234567)).toBe('1,234,567');
    expect(formatNumber(undefined)).toBe('—');
    expect(formatDuration(250)).toBe('250 ms');
    expect(formatDuration(90_000)).toBe('1.5 min');
  });

  it('formats rates for the throughput charts', () => {
    expect(formatBytesPerSecond(0)).toBe('0 B/s');
    expect(formatBytesPerSecond(1536)).toBe('1.5 KiB/s');
    expect(formatBytesPerSecond(3.5 * 1024 ** 2)).toBe('3.5 MiB/s');
    expect(formatBytesPerSecond(undefined)).toBe('—');
    expect(formatRate(0)).toBe('0/s');
    expect(formatRate(0.25)).toBe('0.25/s');
    expect(formatRate(12.34)).toBe('12.3/s');
    expect(formatRate(4321.4)).toBe('4,321/s');
    expect(formatRate(Number.NaN)).toBe('—');
  });

  it('formats a time of day for chart axes', () => {
    expect(formatClock(new Date(2025, 0, 31, 9, 5).getTime())).toBe('09:05');
  });
});
