import type { Locator, Page } from 'playwright-core';

/** The sidebar, cluster selector and theme switcher around every page. */
export class AppShell {
  readonly nav: Locator;
  readonly themeButton: Locator;

  constructor(readonly page: Page) {
    this.nav = page.getByRole('navigation', { name: 'Main' });
    this.themeButton = page.getByRole('button', { name: /^Theme:/ });
  }

  async open(path = '/') {
    await this.page.goto(path);
    await this.nav.waitFor();
  }

  link(name: 'Overview' | 'Topics' | 'Consumer groups' | 'Brokers' | 'Settings'): Locator {
    return this.nav.getByRole('link', { name, exact: true });
  }

  async goTo(name: Parameters<AppShell['link']>[0]) {
    await this.link(name).click();
  }

  async isDark(): Promise<boolean> {
    return this.page.evaluate(() => document.documentElement.classList.contains('dark'));
  }

  async chooseTheme(label: 'Light' | 'Dark' | 'System') {
    await this.themeButton.click();
    await this.page.getByRole('menuitemradio', { name: label }).click();
  }
}
