import type { Locator, Page } from 'playwright-core';
import { CLUSTER } from '../support/api';
import { ConfigurationTab } from './ConfigurationTab';

export type TopicTab = 'Messages' | 'Partitions' | 'Configuration' | 'Consumers';

/** One topic: its header, tabs (each its own URL) and actions. */
export class TopicPage {
  readonly heading: Locator;
  readonly summary: Locator;
  readonly tabs: Locator;
  readonly actionsButton: Locator;

  constructor(
    readonly page: Page,
    readonly topic: string,
  ) {
    const main = page.getByRole('main');
    this.heading = main.getByRole('heading', { level: 1, name: topic, exact: true });
    // "3 partitions × 1 replicas · ~12 messages · …" under the heading.
    this.summary = main.getByText(/partitions × \d+ replicas/);
    this.tabs = main.getByRole('navigation', { name: 'Topic sections' });
    this.actionsButton = main.getByRole('button', { name: 'Actions' });
  }

  static path(topic: string, tab = 'messages'): string {
    return `/clusters/${CLUSTER}/topics/${encodeURIComponent(topic)}/${tab}`;
  }

  async goto(tab: Lowercase<TopicTab> = 'messages', query = '') {
    await this.page.goto(`${TopicPage.path(this.topic, tab)}${query}`);
    await this.heading.waitFor();
  }

  tab(name: TopicTab): Locator {
    return this.tabs.getByRole('link', { name, exact: true });
  }

  async openConfiguration(): Promise<ConfigurationTab> {
    await this.tab('Configuration').click();
    const configuration = new ConfigurationTab(this.page);
    await configuration.filter.waitFor();
    return configuration;
  }

  async openDeleteDialog(): Promise<DeleteTopicDialog> {
    await this.actionsButton.click();
    await this.page.getByRole('menuitem', { name: 'Delete topic' }).click();
    const dialog = new DeleteTopicDialog(this.page, this.topic);
    await dialog.root.waitFor();
    return dialog;
  }
}

/** "Delete topic": the button enables only once the topic's name is typed. */
export class DeleteTopicDialog {
  readonly root: Locator;
  readonly confirmation: Locator;
  readonly deleteButton: Locator;

  constructor(
    readonly page: Page,
    readonly topic: string,
  ) {
    this.root = page.getByRole('dialog', { name: 'Delete topic' });
    this.confirmation = this.root.getByLabel(/to confirm$/);
    this.deleteButton = this.root.getByRole('button', { name: 'Delete topic', exact: true });
  }
}
