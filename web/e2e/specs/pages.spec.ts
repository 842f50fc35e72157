/**
 * Every page a user reaches from the sidebar, once per theme, on a small demo
 * cluster (support/demo.ts): what each shows matches the API, deep links and
 * unknown paths behave, and each page leaves a screenshot.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AppShell } from '../pages/AppShell';
import { BrokersPage } from '../pages/BrokersPage';
import { GroupsPage } from '../pages/GroupsPage';
import { NotFoundPage } from '../pages/NotFoundPage';
import { OverviewPage } from '../pages/OverviewPage';
import { SettingsPage } from '../pages/SettingsPage';
import { TopicsPage } from '../pages/TopicsPage';
import { CLUSTER, ConsoleApi } from '../support/api';
import {
  collectPageErrors,
  launchBrowser,
  screenshot,
  THEMES,
  themedContext,
} from '../support/browser';
import { createDemoCluster, DEMO, removeDemoCluster } from '../support/demo';

const api = new ConsoleApi();
const kafkaAddress = process.env.TAKHIN_KAFKA ?? '';
let browser: Browser;

beforeAll(async () => {
  browser = await launchBrowser();
  await createDemoCluster(api);
});

afterAll(async () => {
  await browser?.close();
  await removeDemoCluster(api);
});

/** Each test starts from the overview and navigates as a user does: through the sidebar. */
async function openFromSidebar(page: Page, link: Parameters<AppShell['link']>[0]) {
  const shell = new AppShell(page);
  await shell.open(`/clusters/${CLUSTER}/overview`);
  await shell.goTo(link);
}

describe.each(THEMES)('console pages in the %s theme', (theme) => {
  let context: BrowserContext;
  let page: Page;
  let pageErrors: string[];

  beforeAll(async () => {
    context = await themedContext(browser, theme);
    page = await context.newPage();
    pageErrors = collectPageErrors(page);
  });

  afterEach(() => {
    // Emptied each time, so one test's error is reported by that test only.
    expect(pageErrors.splice(0)).toEqual([]);
  });

  afterAll(async () => {
    await context?.close();
  });

  it('opens on the overview: health, counts and the broker, as the API reports them', async () => {
    const shell = new AppShell(page);
    await shell.open('/');
    // The root redirects to the default cluster's overview.
    await page.waitForURL(`**/clusters/${CLUSTER}/overview`);
    expect(await shell.isDark()).toBe(theme === 'dark');

    const overview = new OverviewPage(page);
    await overview.heading.waitFor();
    const expected = await api.overview();
    expect(await overview.health.textContent()).toBe('Healthy');
    expect(await overview.stat('Brokers').textContent()).toBe('1');
    expect(await overview.stat('Topics').textContent()).toBe(String(expected?.topic_count));
    expect(await overview.stat('Partitions').textContent()).toBe(String(expected?.partition_count));
    expect(await overview.stat('Offline').textContent()).toBe('0');
    // Nothing damaged on this broker: no warning (specs/storage-health.spec.ts has one).
    expect((await api.storageHealth())?.damaged_range_count).toBe(0);
    expect(await overview.damageCard.count()).toBe(0);
    expect(await overview.brokerRow(1).textContent()).toContain(kafkaAddress);
    expect(await overview.brokerRow(1).textContent()).toContain('controller');

    // The throughput charts need a couple of samples (one every 5 s) to draw a line.
    await expect
      .poll(async () => (await api.throughput())?.points.length ?? 0, { timeout: 15_000 })
      .toBeGreaterThanOrEqual(2);
    await page.reload();
    await overview.charts.first().waitFor();
    await screenshot(page, 'overview', theme);
  });

  it('lists topics with their partitions and messages, and searches them', async () => {
    const topics = new TopicsPage(page);
    await openFromSidebar(page, 'Topics');
    expect(await topics.settled()).toBe('table');
    for (const topic of DEMO.topics) {
      const messages = topic.name === 'payments' ? topic.messages + DEMO.lag : topic.messages;
      const cells = await topics.cells(topic.name).allTextContents();
      expect(cells.slice(0, 4)).toEqual([
        topic.name,
        String(topic.partitions),
        '1',
        String(messages),
      ]);
    }
    expect(await topics.cells('customers').nth(5).textContent()).toBe('compact');
    await screenshot(page, 'topics', theme);

    // The search is in the URL once typing pauses.
    await topics.searchFor('pay');
    await page.waitForURL(/[?&]search=pay/);
    await topics.row('payments').waitFor();
    await topics.row('orders').waitFor({ state: 'detached' });
    expect(await topics.table.getByRole('link').allTextContents()).toEqual(['payments']);
  });

  it('lists consumer groups with their state and lag', async () => {
    const groups = new GroupsPage(page);
    await openFromSidebar(page, 'Consumer groups');
    await groups.row(DEMO.laggingGroup).waitFor();
    const lagging = await groups.cells(DEMO.laggingGroup).allTextContents();
    expect([lagging[1], lagging[3], lagging[4]]).toEqual(['Empty', '0', String(DEMO.lag)]);
    const caughtUp = await groups.cells(DEMO.caughtUpGroup).allTextContents();
    expect([caughtUp[1], caughtUp[4]]).toEqual(['Empty', '0']);
    await screenshot(page, 'groups', theme);
  });

  it("lists brokers and opens one's log directories and configs", async () => {
    const brokers = new BrokersPage(page);
    await openFromSidebar(page, 'Brokers');
    await brokers.row(1).waitFor();
    expect(await brokers.row(1).textContent()).toContain(kafkaAddress);
    await screenshot(page, 'brokers', theme);

    const broker = await brokers.openBroker(1);
    await broker.configFilter.fill('log.retention.ms');
    await broker.configRow('log.retention.ms').waitFor();
    await screenshot(page, 'broker', theme);
  });

  it('shows the theme, the clusters and the server version in settings', async () => {
    const settings = new SettingsPage(page);
    await openFromSidebar(page, 'Settings');
    await settings.heading.waitFor();
    expect(await settings.theme(theme === 'dark' ? 'Dark' : 'Light').isChecked()).toBe(true);
    await settings.clusterRow(CLUSTER).waitFor();
    const bootstrap = await api.clusterBootstrapServers();
    expect(await settings.clusterRow(CLUSTER).textContent()).toContain(bootstrap.join(', '));
    await settings.about.getByText(/Server version: \d+\.\d+\.\d+/).waitFor();
    await screenshot(page, 'settings', theme);
  });

  it('answers unknown paths with the not-found page, inside and outside a cluster', async () => {
    const notFound = new NotFoundPage(page);
    for (const path of [`/clusters/${CLUSTER}/no-such-page`, '/no/such/page']) {
      await page.goto(path);
      await notFound.title.waitFor();
      await notFound.path(path).waitFor();
    }
    await screenshot(page, 'not-found', theme);
    await notFound.overviewLink.click();
    await new OverviewPage(page).heading.waitFor();
  });
});

describe('theme switcher', () => {
  it('switches from light to dark and stores the choice', async () => {
    const context = await themedContext(browser, 'light');
    const page = await context.newPage();
    try {
      const shell = new AppShell(page);
      await shell.open('/settings');
      expect(await shell.isDark()).toBe(false);
      await shell.chooseTheme('Dark');
      await page.waitForFunction(() => document.documentElement.classList.contains('dark'));
      // The init script re-seeds "light" on navigation; read what the app stored instead.
      expect(await page.evaluate(() => window.localStorage.getItem('takhin.theme'))).toBe('dark');
      // The settings page shows the same choice.
      expect(await new SettingsPage(page).theme('Dark').isChecked()).toBe(true);
    } finally {
      await context.close();
    }
  });
});
