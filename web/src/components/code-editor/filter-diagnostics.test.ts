import { describe, expect, it } from 'vitest';
import {
  filterDiagnosticFromProblem,
  filterDiagnosticFromThrown,
  type LineMeasure,
  markerRange,
} from './filter-diagnostics';

/** A model over `text`, measured as Monaco does (max column = length + 1). */
function model(text: string): LineMeasure {
  const lines = text.split('\n');
  return {
    getLineCount: () => lines.length,
    getLineMaxColumn: (line) => (lines[line - 1]?.length ?? 0) + 1,
  };
}

describe('filterDiagnosticFromProblem', () => {
  it('places a 422 FilterProblem at its line and column', () => {
    expect(
      filterDiagnosticFromProblem({
        detail:
          "the filter does not compile: SyntaxError: unexpected token in expression: '%' (line 1, column 10)",
        line: 1,
        column: 10,
      }),
    ).toEqual({
      message: "SyntaxError: unexpected token in expression: '%'",
      line: 1,
      column: 10,
      severity: 'error',
    });
  });

  it('reads the position from the text of an error event (no line field)', () => {
    expect(
      filterDiagnosticFromProblem({
        detail:
          "the filter threw on 100 messages; the search stopped. The last: partition 0, offset 7: the filter threw: TypeError: cannot read property 'n' of null (line 2, column 14)",
      }),
    ).toMatchObject({ line: 2, column: 14, severity: 'error' });
  });

  it('keeps a filter problem without a position, for the message alone', () => {
    expect(
      filterDiagnosticFromProblem({
        detail: 'the filter ran longer than 100 ms on one message (at partition 0, offset 3)',
      }),
    ).toEqual({
      message: 'the filter ran longer than 100 ms on one message (at partition 0, offset 3)',
      line: null,
      column: null,
      severity: 'error',
    });
  });

  it('ignores problems that are not about the filter', () => {
    expect(filterDiagnosticFromProblem({ detail: 'partition 9 does not exist' })).toBeNull();
    expect(filterDiagnosticFromProblem({})).toBeNull();
  });
});

describe('filterDiagnosticFromThrown', () => {
  it('is a warning at the position the filter threw', () => {
    expect(
      filterDiagnosticFromThrown(
        'partition 0, offset 5: the filter threw: ReferenceError: x is not defined (line 1, column 8)',
      ),
    ).toEqual({
      message: 'partition 0, offset 5: the filter threw: ReferenceError: x is not defined',
      line: 1,
      column: 8,
      severity: 'warning',
    });
  });
});

describe('markerRange', () => {
  it('marks one character at the position', () => {
    expect(markerRange(model('value.n %% 2'), 1, 10)).toEqual({
      startLineNumber: 1,
      startColumn: 10,
      endLineNumber: 1,
      endColumn: 11,
    });
  });

  it('pulls a position past the end back onto the text', () => {
    // "unexpected end of input" is reported after the last character.
    expect(markerRange(model('return (a'), 1, 10)).toMatchObject({ startColumn: 9, endColumn: 10 });
    expect(markerRange(model('a\nb'), 5, 1)).toMatchObject({ startLineNumber: 2 });
  });

  it('marks the whole line when the column is unknown', () => {
    expect(markerRange(model('one\nreturn x;'), 2, null)).toEqual({
      startLineNumber: 2,
      startColumn: 1,
      endLineNumber: 2,
      endColumn: 10,
    });
    expect(markerRange(model(''), 1, null)).toMatchObject({ startColumn: 1, endColumn: 2 });
  });
});
