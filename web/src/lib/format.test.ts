import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, formatNumber } from './format';

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
});
