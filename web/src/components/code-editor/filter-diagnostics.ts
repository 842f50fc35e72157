/**
 * The server's verdicts on a message filter, mapped to editor markers. Kept
 * apart from `filter-syntax.ts` so the messages tab can use it without
 * loading acorn.
 */

/** A message about the filter, placed in the editor when it has a position. */
export interface FilterDiagnostic {
  message: string;
  /** 1-based; null when the server could not place it. */
  line: number | null;
  column: number | null;
  /** An error stops the search; a warning is a message the filter threw on (it goes on). */
  severity: 'error' | 'warning';
}

/** The fields of a problem the filter mapping reads (a `FilterProblem` has all of them). */
export interface ProblemLike {
  detail?: string;
  line?: number | null;
  column?: number | null;
}

/** `(line 3, column 7)` or `(line 3)`, as the server appends to filter errors; the last wins. */
const POSITION_PATTERN = /\s*\(line (\d+)(?:, column (\d+))?\)/g;
const NOT_COMPILED_PREFIX = /^the filter does not compile:\s*/i;
const ABOUT_THE_FILTER = /\bthe filter\b/i;

function lastPosition(text: string): { line: number; column: number | null } | null {
  let position: { line: number; column: number | null } | null = null;
  for (const match of text.matchAll(POSITION_PATTERN)) {
    position = { line: Number(match[1]), column: match[2] === undefined ? null : Number(match[2]) };
  }
  return position;
}

function withoutPositions(text: string): string {
  return text.replace(POSITION_PATTERN, '').trim();
}

/**
 * The diagnostic for a problem the server answered a search with, or null
 * when the problem is not about the filter (an unknown partition, a cluster
 * error). A 422 `FilterProblem` carries `line`/`column` for a filter that
 * does not compile; an `error` event of a running search (the filter threw
 * too often, ran too long) has the position only in its `detail` text.
 */
export function filterDiagnosticFromProblem(problem: ProblemLike): FilterDiagnostic | null {
  const detail = problem.detail ?? '';
  const hasLine = problem.line !== undefined && problem.line !== null;
  if (!hasLine && !ABOUT_THE_FILTER.test(detail)) return null;
  const fromText = lastPosition(detail);
  const line = hasLine ? (problem.line as number) : (fromText?.line ?? null);
  const column = hasLine ? (problem.column ?? null) : (fromText?.column ?? null);
  return {
    message: withoutPositions(detail.replace(NOT_COMPILED_PREFIX, '')) || 'The filter is invalid.',
    line: line !== null && line >= 1 ? line : null,
    column: column !== null && column >= 1 ? column : null,
    severity: 'error',
  };
}

/**
 * The warning for the last message a running search's filter threw on
 * (`progress.last_filter_error`: "partition 0, offset 5: the filter threw:
 * TypeError: ... (line 1, column 14)"). The search goes on, skipping it.
 */
export function filterDiagnosticFromThrown(lastFilterError: string): FilterDiagnostic {
  const position = lastPosition(lastFilterError);
  return {
    message: withoutPositions(lastFilterError),
    line: position?.line ?? null,
    column: position?.column ?? null,
    severity: 'warning',
  };
}

/** What `markerRange` needs of a Monaco text model. */
export interface LineMeasure {
  getLineCount(): number;
  /** 1 + the line's length, as Monaco counts. */
  getLineMaxColumn(line: number): number;
}

/**
 * Where to draw a marker for a 1-based position that may lie outside the
 * text (the server reports "unexpected end of input" past the last
 * character, and the text may have changed since): clamped into the model,
 * one character wide so the squiggle is visible, the whole line when no
 * column is known.
 */
export function markerRange(
  model: LineMeasure,
  line: number,
  column: number | null,
): { startLineNumber: number; startColumn: number; endLineNumber: number; endColumn: number } {
  const lineNumber = Math.min(Math.max(1, line), Math.max(1, model.getLineCount()));
  const maxColumn = model.getLineMaxColumn(lineNumber);
  if (column === null) {
    return {
      startLineNumber: lineNumber,
      startColumn: 1,
      endLineNumber: lineNumber,
      endColumn: Math.max(2, maxColumn),
    };
  }
  const start = Math.min(Math.max(1, column), Math.max(1, maxColumn - 1));
  return {
    startLineNumber: lineNumber,
    startColumn: start,
    endLineNumber: lineNumber,
    endColumn: start + 1,
  };
}
