import { parse } from 'acorn';

export interface SyntaxProblem {
  message: string;
  /** 1-based, as Monaco's markers are. */
  line: number;
  column: number;
}

/**
 * Checks a message filter's syntax the way the server will run it: the
 * source is a function body (so `return` is allowed) in a modern script.
 * Returns null when it parses.
 */
export function checkFilterSyntax(source: string): SyntaxProblem | null {
  if (source.trim() === '') return null;
  try {
    parse(source, {
      ecmaVersion: 'latest',
      sourceType: 'script',
      allowReturnOutsideFunction: true,
      locations: true,
    });
    return null;
  } catch (error) {
    if (error instanceof SyntaxError) {
      const located = error as SyntaxError & { loc?: { line: number; column: number } };
      return {
        message: error.message.replace(/\s*\(\d+:\d+\)$/, ''),
        line: located.loc?.line ?? 1,
        column: (located.loc?.column ?? 0) + 1,
      };
    }
    throw error;
  }
}
