import type { Locator, Page } from 'playwright-core';

/** The topics list: search, table, and its loading/error/empty states. */
export class TopicsPage {
  readonly heading: Locator;
  readonly search: Locator;
  readonly table: Locator;
  readonly errorState: Locator;
  readonly emptyState: Locator;

  constructor(readonly page: Page) {
    this.heading = page.getByRole('heading', { level: 1, name: 'Topics' });
    this.search = page.getByRole('searchbox', { name: 'Search topics' });
    this.table = page.getByTestId('topics-table');
    this.errorState = page.getByTestId('error-state');
    this.emptyState = page.getByTestId('empty-state');
  }

  /** Waits for the first answer: rows, an empty list, or the API's error. */
  async settled(): Promise<'table' | 'empty' | 'error'> {
    await this.heading.waitFor();
    await this.table.or(this.emptyState).or(this.errorState).first().waitFor();
    if (await this.table.isVisible()) return 'table';
    if (await this.emptyState.isVisible()) return 'empty';
    return 'error';
  }

  row(topic: string): Locator {
    return this.table
      .getByRole('row')
      .filter({ has: this.page.getByRole('link', { name: topic, exact: true }) });
  }
}
