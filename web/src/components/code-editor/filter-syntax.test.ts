import { describe, expect, it } from 'vitest';
import { checkFilterSyntax } from './filter-syntax';

describe('checkFilterSyntax', () => {
  it('accepts a function body with return', () => {
    expect(checkFilterSyntax("return value?.status === 'FAILED';")).toBeNull();
    expect(checkFilterSyntax('   ')).toBeNull();
  });

  it('locates a syntax error for an inline marker', () => {
    expect(checkFilterSyntax('return value.a ===;\n')).toEqual({
      message: 'Unexpected token',
      line: 1,
      column: 19,
    });
    expect(checkFilterSyntax('const a = 1;\nreturn (a')?.line).toBe(2);
  });
});
