import { describe, expect, it } from 'vitest';
import { parseUrlState } from './url-state';

describe('parseUrlState', () => {
  const defaults = { search: '', page: 1, include_internal: false };

  it('keeps defaults for missing keys and parses by the default type', () => {
    expect(parseUrlState(new URLSearchParams('page=3&include_internal=true'), defaults)).toEqual({
      search: '',
      page: 3,
      include_internal: true,
    });
  });

  it('falls back to the default for a malformed number', () => {
    expect(parseUrlState(new URLSearchParams('page=abc'), defaults).page).toBe(1);
  });
});
