import type { Locator, Page } from 'playwright-core';
import { CLUSTER } from '../support/api';

/** One consumer group: members, per-partition lag (chart and table), reset and delete. */
export class GroupPage {
  readonly heading: Locator;
  readonly summary: Locator;
  readonly offsets: Locator;
  readonly lagChart: Locator;
  readonly resetButton: Locator;

  constructor(
    readonly page: Page,
    readonly group: string,
  ) {
    const main = page.getByRole('main');
    this.heading = main.getByRole('heading', { level: 1, name: group, exact: true });
    // "0 members · total lag 12" under the heading.
    this.summary = main.getByText(/members · total lag/);
    const lagCard = main
      .locator('section')
      .filter({ has: page.getByRole('heading', { name: 'Lag per partition' }) });
    this.offsets = lagCard.getByRole('table');
    this.lagChart = lagCard.locator('svg.recharts-surface');
    this.resetButton = main.getByRole('button', { name: 'Reset offsets' });
  }

  async goto() {
    await this.page.goto(`/clusters/${CLUSTER}/groups/${encodeURIComponent(this.group)}`);
    await this.heading.waitFor();
  }

  /** The offsets table as numbers: committed, end and lag per partition of `topic`. */
  async offsetRows(
    topic: string,
  ): Promise<{ partition: number; committed: number; lag: number }[]> {
    await this.offsets.waitFor();
    const rows = await this.offsets.getByRole('row').filter({ hasText: topic }).all();
    const parsed = [];
    for (const row of rows) {
      const cells = await row.getByRole('cell').allInnerTexts();
      const number = (index: number) => Number((cells[index] ?? '').replaceAll(',', ''));
      parsed.push({ partition: number(1), committed: number(2), lag: number(4) });
    }
    return parsed.sort((a, b) => a.partition - b.partition);
  }

  async openResetDialog(): Promise<ResetOffsetsDialog> {
    await this.resetButton.click();
    const dialog = new ResetOffsetsDialog(this.page);
    await dialog.root.waitFor();
    return dialog;
  }
}

/** The reset wizard: choose topic and strategy, preview (dry run), then apply. */
export class ResetOffsetsDialog {
  readonly root: Locator;
  readonly topic: Locator;
  readonly strategy: Locator;
  readonly preview: Locator;
  readonly previewButton: Locator;
  readonly applyButton: Locator;

  constructor(readonly page: Page) {
    this.root = page.getByRole('dialog', { name: 'Reset offsets' });
    this.topic = this.root.getByLabel('Topic', { exact: true });
    this.strategy = this.root.getByLabel('Reset to', { exact: true });
    this.preview = this.root.getByRole('table');
    this.previewButton = this.root.getByRole('button', { name: 'Preview', exact: true });
    this.applyButton = this.root.getByRole('button', { name: 'Apply', exact: true });
  }

  /** The dry run's plan: per partition, the offset now and after. */
  async plan(): Promise<{ partition: number; now: number; after: number }[]> {
    await this.preview.waitFor();
    const rows = await this.preview.getByRole('row').all();
    const plan = [];
    for (const row of rows.slice(1)) {
      const cells = await row.getByRole('cell').allInnerTexts();
      const number = (index: number) => Number((cells[index] ?? '').replaceAll(',', ''));
      plan.push({ partition: number(0), now: number(1), after: number(2) });
    }
    return plan.sort((a, b) => a.partition - b.partition);
  }
}
