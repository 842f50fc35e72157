import type { Locator, Page } from 'playwright-core';

/** The sidebar, cluster selector, theme switcher and toasts around every page. */
export class AppShell {
  readonly nav: Locator;
  readonly main: Locator;
  readonly themeButton: Locator;
  readonly notifications: Locator;

  constructor(readonly page: Page) {
    this.nav = page.getByRole('navigation', { name: 'Main' });
    this.main = page.getByRole('main');
    this.themeButton = page.getByRole('button', { name: /^Theme:/ });
    // Sonner's toaster is a labelled region ("Notifications alt+T").
    this.notifications = page.getByRole('region', { name: /Notifications/ });
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

  /** Closes every toast (before a screenshot: they cover the page's corner). */
  async dismissToasts() {
    // All at once in the page: a toast that times out on its own meanwhile is no error.
    await this.notifications.getByRole('button', { name: 'Close toast' }).evaluateAll((buttons) => {
      for (const button of buttons) (button as HTMLButtonElement).click();
    });
    // Each leaves after a short exit animation.
    await this.notifications.getByRole('listitem').first().waitFor({ state: 'detached' });
  }

  /** A toast with this text (the result of an action). */
  toast(text: string | RegExp): Locator {
    return this.notifications.getByText(text);
  }
}
