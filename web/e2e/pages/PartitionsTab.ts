import type { Locator, Page } from 'playwright-core';

/** A topic's partitions: the table, and the damaged ranges listed under it. */
export class PartitionsTab {
  readonly table: Locator;
  readonly damagedRanges: Locator;
  readonly damagedRangesTitle: Locator;

  constructor(readonly page: Page) {
    const main = page.getByRole('main');
    this.table = main.getByTestId('partitions-table');
    const card = main.getByRole('region', { name: /^Damaged data: / });
    this.damagedRangesTitle = card.getByRole('heading');
    this.damagedRanges = card.getByRole('table');
  }

  /** The row of partition `index` (its first cell starts with the number). */
  row(index: number): Locator {
    return this.table.locator('tbody tr').filter({
      has: this.page.locator('td:first-child', { hasText: new RegExp(`^${index}(\\D|$)`) }),
    });
  }

  /** Data rows of the damaged-ranges table, in the order the API lists them. */
  damagedRangeRows(): Locator {
    return this.damagedRanges.locator('tbody tr');
  }
}
