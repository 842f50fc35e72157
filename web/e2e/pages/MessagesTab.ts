import type { Locator, Page } from 'playwright-core';

/** The status line's words for a finished search (MessagesTab's DONE_REASONS). */
const DONE_REASON =
  /end of the topic|max results reached|time limit reached|scan limit reached|stopped|cancelled/;

export interface MessageRow {
  partition: number;
  key: string;
  value: string;
}

/**
 * A topic's message viewer: the search form (URL state), the JavaScript
 * filter editor (Monaco), the status line and the virtualised results.
 */
export class MessagesTab {
  readonly form: Locator;
  readonly start: Locator;
  readonly partition: Locator;
  readonly maxResults: Locator;
  readonly filterToggle: Locator;
  readonly filterEditor: Locator;
  readonly filterInput: Locator;
  readonly searchButton: Locator;
  readonly status: Locator;
  readonly results: Locator;
  readonly rows: Locator;
  readonly failures: Locator;
  readonly emptyState: Locator;

  constructor(readonly page: Page) {
    this.form = page.getByRole('form', { name: 'Message search' });
    this.start = this.form.getByLabel('Start', { exact: true });
    this.partition = this.form.getByLabel('Partition', { exact: true });
    this.maxResults = this.form.getByLabel('Max results', { exact: true });
    // A <details> summary has no ARIA role to find it by.
    this.filterToggle = this.form.locator('summary', { hasText: 'JavaScript filter' });
    this.filterEditor = this.form.locator('.monaco-editor');
    this.filterInput = this.form.getByRole('textbox', { name: 'JavaScript filter' });
    this.searchButton = this.form.getByRole('button', { name: 'Search', exact: true });
    // The search's own status line (the form may hold other live regions).
    this.status = this.form.getByRole('status').filter({ hasText: / shown/ });
    this.results = page.getByTestId('message-table');
    this.rows = this.results.getByTestId('message-row');
    // A failed search is an alert: the error state, and for a refused filter whatever
    // the page shows beside the editor.
    this.failures = page.getByRole('alert');
    this.emptyState = page.getByTestId('empty-state');
  }

  /** Start position and partition (-1: all), as a user picks them. */
  async choose({ start, partition }: { start: 'Newest' | 'Oldest'; partition: number | 'All' }) {
    await this.start.selectOption({ label: start });
    await this.partition.selectOption({ label: String(partition) });
  }

  async openFilter() {
    if (!(await this.filterEditor.isVisible())) await this.filterToggle.click();
    await this.filterEditor.waitFor();
  }

  /** Replaces the filter's text by typing it, as a user does (at full speed). */
  async typeFilter(source: string) {
    await this.openFilter();
    await this.filterInput.focus();
    await this.page.keyboard.press('ControlOrMeta+A');
    await this.page.keyboard.type(source);
  }

  /** The editor's text as shown, one line (Monaco renders spaces as no-break spaces). */
  async filterText(): Promise<string> {
    const text = await this.filterEditor.locator('.view-lines').textContent();
    return (text ?? '').replaceAll('\u00a0', ' ').trim();
  }

  /** Monaco's inline error squiggle under a syntax error. */
  get syntaxErrorMarker(): Locator {
    return this.filterEditor.locator('.squiggly-error');
  }

  /** Runs the search and waits until it ended. */
  async search() {
    await this.whileSearching(() => this.searchButton.click());
  }

  /**
   * Does `action` (a click, a reload: anything that starts a search) and
   * waits for the search it started to end: its event stream finished and
   * the status line names why, or a failure is shown.
   */
  async whileSearching(action: () => Promise<unknown>) {
    const response = this.page.waitForResponse(
      (candidate) =>
        candidate.request().method() === 'GET' &&
        /\/topics\/[^/]+\/messages\?/.test(candidate.url()),
    );
    await action();
    await (await response).finished();
    await this.status.filter({ hasText: DONE_REASON }).or(this.failures).first().waitFor();
  }

  /** The rows on screen (a few dozen at most: the table is virtualised). */
  async visibleRows(): Promise<MessageRow[]> {
    return this.rows.evaluateAll((rows) =>
      rows.map((row) => {
        const cell = (id: string) =>
          row.querySelector(`[data-testid="${id}"]`)?.textContent?.trim() ?? '';
        return {
          partition: Number(cell('message-partition')),
          key: cell('message-key'),
          value: cell('message-value'),
        };
      }),
    );
  }

  row(key: string): Locator {
    return this.rows.filter({
      has: this.page.getByTestId('message-key').getByText(key, { exact: true }),
    });
  }

  /** Expands a row; its details show the pretty value, headers and metadata. */
  async expand(key: string): Promise<Locator> {
    const row = this.row(key);
    await row.click();
    // The details follow the row's button inside the same virtual item.
    return row.locator('xpath=..');
  }
}
