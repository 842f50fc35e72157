import type { Locator, Page } from 'playwright-core';

/** Theme choice, the configured clusters, and what the server is. */
export class SettingsPage {
  readonly heading: Locator;
  readonly themes: Locator;
  readonly clusters: Locator;
  readonly about: Locator;

  constructor(readonly page: Page) {
    const main = page.getByRole('main');
    this.heading = main.getByRole('heading', { level: 1, name: 'Settings' });
    this.themes = main.getByRole('radiogroup', { name: 'Theme' });
    this.clusters = main
      .locator('section')
      .filter({ has: page.getByRole('heading', { name: 'Clusters' }) })
      .getByRole('table');
    this.about = main
      .locator('section')
      .filter({ has: page.getByRole('heading', { name: 'About' }) });
  }

  async goto() {
    await this.page.goto('/settings');
    await this.heading.waitFor();
  }

  theme(label: 'Light' | 'Dark' | 'System'): Locator {
    return this.themes.getByRole('radio', { name: label });
  }

  clusterRow(name: string): Locator {
    return this.clusters.getByRole('row').filter({ hasText: name });
  }
}
