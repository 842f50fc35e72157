import { screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CodeEditorProps } from '@/components/code-editor';
import type { FilterDiagnostic } from '@/components/code-editor/filter-diagnostics';
import { json, mockFetch, renderRoute } from '@/test/render';
import MessagesTab from './MessagesTab';

/** What the (mocked) editor was last given: Monaco itself does not run in jsdom. */
const editor = vi.hoisted(() => ({ diagnostics: [] as FilterDiagnostic[] }));

vi.mock('@/components/code-editor', () => ({
  LazyCodeEditor: (props: CodeEditorProps) => {
    editor.diagnostics = props.diagnostics ?? [];
    return <textarea aria-label={props.ariaLabel} value={props.value} readOnly />;
  },
}));

afterEach(() => vi.unstubAllGlobals());

const TOPIC = {
  name: 'orders',
  topic_id: 'AAAAAAAAAAAAAAAAAAAAAA',
  internal: false,
  partition_count: 1,
  replication_factor: 1,
  overrides: {},
  partitions: [],
};

const route = {
  path: '/clusters/:cluster/topics/:topic/messages',
  url: `/clusters/local/topics/orders/messages?filter=${encodeURIComponent('value.n %% 2')}`,
};

describe('MessagesTab filter errors', () => {
  it('shows the server refusing the filter under the editor and as a marker', async () => {
    mockFetch({
      'GET /api/v1/clusters/local/topics/orders': () => json(TOPIC),
      'GET /api/v1/clusters/local/topics/orders/messages': () =>
        json(
          {
            type: 'about:blank',
            title: 'Unprocessable Entity',
            status: 422,
            detail:
              "the filter does not compile: SyntaxError: unexpected token in expression: '%' (line 1, column 10)",
            line: 1,
            column: 10,
          },
          422,
        ),
    });
    renderRoute(<MessagesTab />, route);
    const line = await screen.findByTestId('filter-error');
    expect(line).toHaveRole('alert');
    expect(line).toHaveTextContent(
      "SyntaxError: unexpected token in expression: '%' (line 1, column 10)",
    );
    expect(editor.diagnostics).toEqual([
      {
        message: "SyntaxError: unexpected token in expression: '%'",
        line: 1,
        column: 10,
        severity: 'error',
      },
    ]);
    // The full problem stays in the results area, with its retry.
    expect(screen.getByTestId('error-state')).toHaveTextContent('the filter does not compile');
  });

  it('leaves other search problems to the results area', async () => {
    mockFetch({
      'GET /api/v1/clusters/local/topics/orders': () => json(TOPIC),
      'GET /api/v1/clusters/local/topics/orders/messages': () =>
        json(
          {
            type: 'about:blank',
            title: 'Too Many Requests',
            status: 429,
            detail: 'too many searches are running',
          },
          429,
        ),
    });
    renderRoute(<MessagesTab />, route);
    await screen.findByTestId('error-state');
    await waitFor(() => expect(screen.queryByTestId('filter-error')).not.toBeInTheDocument());
    expect(editor.diagnostics).toEqual([]);
  });
});
