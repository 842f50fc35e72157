import type { Locator, Page } from 'playwright-core';
import { CLUSTER } from '../support/api';

/** Cluster health, counts, throughput and disk charts, and the brokers table. */
export class OverviewPage {
  readonly heading: Locator;
  readonly health: Locator;
  readonly brokersTable: Locator;
  readonly charts: Locator;
  /** The warning card shown when the broker found damaged data. */
  readonly damageCard: Locator;

  constructor(readonly page: Page) {
    const main = page.getByRole('main');
    this.heading = main.getByRole('heading', { level: 1, name: 'Overview' });
    this.health = main.getByText(/^(Healthy|Degraded|Damaged data|Offline partitions)$/);
    this.brokersTable = main
      .locator('section')
      .filter({ has: page.getByRole('heading', { name: 'Brokers', exact: true }) })
      .getByRole('table');
    // Recharts draws into an <svg class="recharts-surface">; it is lazy-loaded.
    this.charts = main.locator('svg.recharts-surface');
    this.damageCard = main.getByRole('region', { name: /^Damaged data: / });
  }

  /** The damage card's link to a topic's partitions. */
  damagedTopicLink(topic: string): Locator {
    return this.damageCard.getByRole('link', { name: topic, exact: true });
  }

  async goto() {
    await this.page.goto(`/clusters/${CLUSTER}/overview`);
    await this.heading.waitFor();
  }

  /** The value of a stat card ("Brokers", "Topics", "Partitions", ...). */
  stat(label: string): Locator {
    return this.page
      .getByRole('main')
      .locator('p', { hasText: new RegExp(`^${label}$`) })
      .locator('xpath=following-sibling::p[1]');
  }

  brokerRow(nodeId: number): Locator {
    return this.brokersTable
      .getByRole('row')
      .filter({ has: this.page.getByRole('link', { name: String(nodeId), exact: true }) });
  }
}
