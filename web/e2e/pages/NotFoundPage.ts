import type { Locator, Page } from 'playwright-core';

/** What any unknown path shows, inside the shell. */
export class NotFoundPage {
  readonly title: Locator;
  readonly overviewLink: Locator;

  constructor(readonly page: Page) {
    this.title = page.getByText('Page not found', { exact: true });
    this.overviewLink = page.getByRole('link', { name: 'Go to the overview' });
  }

  /** The path the page says nothing lives at. */
  path(pathname: string): Locator {
    return this.page.getByRole('main').getByText(pathname, { exact: true });
  }
}
