import type { Locator, Page } from 'playwright-core';
import { CLUSTER } from '../support/api';

/** The brokers list, and one broker's page with its log directories and configs. */
export class BrokersPage {
  readonly heading: Locator;
  readonly table: Locator;

  constructor(readonly page: Page) {
    this.heading = page.getByRole('heading', { level: 1, name: 'Brokers' });
    this.table = page.getByRole('main').getByRole('table');
  }

  async goto() {
    await this.page.goto(`/clusters/${CLUSTER}/brokers`);
    await this.heading.waitFor();
  }

  row(nodeId: number): Locator {
    return this.table
      .getByRole('row')
      .filter({ has: this.page.getByRole('link', { name: String(nodeId), exact: true }) });
  }

  async openBroker(nodeId: number): Promise<BrokerPage> {
    await this.row(nodeId)
      .getByRole('link', { name: String(nodeId), exact: true })
      .click();
    const broker = new BrokerPage(this.page, nodeId);
    await broker.heading.waitFor();
    return broker;
  }
}

export class BrokerPage {
  readonly heading: Locator;
  readonly configFilter: Locator;

  constructor(
    readonly page: Page,
    nodeId: number,
  ) {
    this.heading = page.getByRole('heading', { level: 1, name: `Broker ${nodeId}` });
    this.configFilter = page.getByRole('searchbox', { name: 'Filter configs' });
  }

  configRow(name: string): Locator {
    return this.page.getByRole('row').filter({ has: this.page.getByText(name, { exact: true }) });
  }
}
