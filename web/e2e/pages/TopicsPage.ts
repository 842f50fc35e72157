import type { Locator, Page } from 'playwright-core';
import { CLUSTER } from '../support/api';

/** The topics list: search, table, its loading/error/empty states, and the create dialog. */
export class TopicsPage {
  readonly heading: Locator;
  readonly search: Locator;
  readonly table: Locator;
  readonly errorState: Locator;
  readonly emptyState: Locator;
  readonly createButton: Locator;

  constructor(readonly page: Page) {
    this.heading = page.getByRole('heading', { level: 1, name: 'Topics' });
    this.search = page.getByRole('searchbox', { name: 'Search topics' });
    this.table = page.getByTestId('topics-table');
    this.errorState = page.getByTestId('error-state');
    this.emptyState = page.getByTestId('empty-state');
    // The header's button; an empty list shows a second one.
    this.createButton = page.getByRole('button', { name: 'Create topic' }).first();
  }

  async goto(query = '') {
    await this.page.goto(`/clusters/${CLUSTER}/topics${query}`);
    await this.heading.waitFor();
  }

  /** Waits for the first answer: rows, an empty list, or the API's error. */
  async settled(): Promise<'table' | 'empty' | 'error'> {
    await this.heading.waitFor();
    await this.table.or(this.emptyState).or(this.errorState).first().waitFor();
    if (await this.table.isVisible()) return 'table';
    if (await this.emptyState.isVisible()) return 'empty';
    return 'error';
  }

  async searchFor(text: string) {
    await this.search.fill(text);
  }

  row(topic: string): Locator {
    return this.table
      .getByRole('row')
      .filter({ has: this.page.getByRole('link', { name: topic, exact: true }) });
  }

  /** The row's cells in column order: name, partitions, replicas, messages, size, cleanup. */
  cells(topic: string): Locator {
    return this.row(topic).getByRole('cell');
  }

  async openCreateDialog(): Promise<CreateTopicDialog> {
    await this.createButton.click();
    const dialog = new CreateTopicDialog(this.page);
    await dialog.root.waitFor();
    return dialog;
  }
}

export class CreateTopicDialog {
  readonly root: Locator;
  readonly name: Locator;
  readonly partitions: Locator;
  readonly replicationFactor: Locator;
  readonly preset: Locator;
  readonly createButton: Locator;

  constructor(readonly page: Page) {
    this.root = page.getByRole('dialog', { name: 'Create topic' });
    this.name = this.root.getByLabel('Name', { exact: true });
    this.partitions = this.root.getByLabel('Partitions', { exact: true });
    this.replicationFactor = this.root.getByLabel('Replication factor', { exact: true });
    this.preset = this.root.getByLabel('Preset', { exact: true });
    this.createButton = this.root.getByRole('button', { name: 'Create', exact: true });
  }

  async create({ name, partitions }: { name: string; partitions: number }) {
    await this.name.fill(name);
    await this.partitions.fill(String(partitions));
    await this.createButton.click();
    await this.root.waitFor({ state: 'hidden' });
  }
}
