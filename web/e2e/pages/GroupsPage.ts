import type { Locator, Page } from 'playwright-core';
import { CLUSTER } from '../support/api';

/** Consumer groups: search, state filter, and a table with state, members and lag. */
export class GroupsPage {
  readonly heading: Locator;
  readonly search: Locator;
  readonly table: Locator;

  constructor(readonly page: Page) {
    this.heading = page.getByRole('heading', { level: 1, name: 'Consumer groups' });
    this.search = page.getByRole('searchbox', { name: 'Search groups' });
    this.table = page.getByRole('main').getByRole('table');
  }

  async goto() {
    await this.page.goto(`/clusters/${CLUSTER}/groups`);
    await this.heading.waitFor();
  }

  row(group: string): Locator {
    return this.table
      .getByRole('row')
      .filter({ has: this.page.getByRole('link', { name: group, exact: true }) });
  }

  /** The row's cells in column order: group, state, protocol, members, lag, coordinator. */
  cells(group: string): Locator {
    return this.row(group).getByRole('cell');
  }
}
