/**
 * The console's main journey, as issue #7 lists it, once per theme: create a
 * topic in the UI, produce to it with a real Kafka client, find the messages
 * with and without a JavaScript filter, edit a config, reset a consumer
 * group's offsets, delete the topic. Each step is a test of its own so a
 * failure names the step; they share the topic and run in order. The API is
 * the second witness for everything the UI claims to have changed.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AppShell } from '../pages/AppShell';
import { GroupPage } from '../pages/GroupPage';
import { GroupsPage } from '../pages/GroupsPage';
import { type MessageRow, MessagesTab } from '../pages/MessagesTab';
import { TopicPage } from '../pages/TopicPage';
import { TopicsPage } from '../pages/TopicsPage';
import { ConsoleApi, uniqueName } from '../support/api';
import {
  collectPageErrors,
  launchBrowser,
  screenshot,
  THEMES,
  themedContext,
} from '../support/browser';
import { consumeAndCommit, type JsonMessage, produceJson } from '../support/kafka';

const PARTITIONS = 3;
const ITEMS = ['keyboard', 'monitor', 'desk lamp', 'headphones'];
/** Twelve orders, round-robin over the partitions: four per partition. */
const MESSAGES: JsonMessage[] = Array.from({ length: 12 }, (_, n) => ({
  key: `order-${n}`,
  value: { n, item: ITEMS[n % ITEMS.length], amount_cents: 1_000 + n * 250 },
  partition: n % PARTITIONS,
  headers: { source: 'takhin-e2e', sequence: String(n) },
}));
const EVEN_FILTER = 'value.n % 2 === 0';
const BROKEN_FILTER = 'value.n %% 2';

/** What the viewer should show for these messages, in key order. */
function expectedRows(messages: JsonMessage[]) {
  return messages.map((message) => ({
    partition: message.partition,
    key: message.key,
    value: message.value,
  }));
}

/** The viewer's rows with values parsed (the viewer may space JSON its own way), in key order. */
function parsedRows(rows: MessageRow[]) {
  return rows
    .map((row) => ({ partition: row.partition, key: row.key, value: JSON.parse(row.value) }))
    .sort((a, b) => Number(a.key.split('-')[1]) - Number(b.key.split('-')[1]));
}

let browser: Browser;
const api = new ConsoleApi();

beforeAll(async () => {
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
});

describe.each(THEMES)('a topic from creation to deletion, %s theme', (theme) => {
  const topic = uniqueName('e2e-orders', theme);
  const group = uniqueName('e2e-billing', theme);
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
    // Whatever a failed step left behind: the group first, it points at the topic.
    await api.deleteGroup(group);
    await api.deleteTopic(topic);
  });

  it('creates a topic with three partitions through the create dialog', async () => {
    const topics = new TopicsPage(page);
    await topics.goto();
    const dialog = await topics.openCreateDialog();
    await dialog.create({ name: topic, partitions: PARTITIONS });

    // The dialog opens the new topic's page and says so.
    const topicPage = new TopicPage(page, topic);
    await topicPage.heading.waitFor();
    await new AppShell(page).toast(`Topic ${topic} created`).waitFor();
    expect(await topicPage.summary.textContent()).toContain(
      `${PARTITIONS} partitions × 1 replicas`,
    );
    expect((await api.topic(topic))?.partition_count).toBe(PARTITIONS);

    await topics.goto(`?search=${topic}`);
    await topics.row(topic).waitFor();
    expect(await topics.cells(topic).nth(1).textContent()).toBe(String(PARTITIONS));
  });

  it('finds messages a Kafka client produced, from the oldest, in all partitions', async () => {
    await produceJson(topic, MESSAGES);

    const topicPage = new TopicPage(page, topic);
    await topicPage.goto('partitions');
    // Opening the tab runs the search in the URL (the newest); let it end first.
    const messages = new MessagesTab(page);
    await messages.whileSearching(() => topicPage.tab('Messages').click());
    await messages.choose({ start: 'Oldest', partition: 'All' });
    await messages.search();

    await expect
      .poll(async () => parsedRows(await messages.visibleRows()))
      .toEqual(expectedRows(MESSAGES));
    expect(await messages.status.textContent()).toMatch(
      /^12 shown · 12 matched .* end of the topic/,
    );

    // A row expands to the pretty value, its headers and metadata.
    const details = await messages.expand('order-0');
    await details.getByText('Headers (2)').waitFor();
    expect(await details.textContent()).toContain('"source"');
    expect(await details.textContent()).toContain('"takhin-e2e"');
    expect(await details.textContent()).toContain('"item": "keyboard"');
    await screenshot(page, 'message-details', theme);
  });

  it('keeps only the matching messages with a JavaScript filter', async () => {
    const messages = new MessagesTab(page);
    await messages.typeFilter(EVEN_FILTER);
    await expect.poll(() => messages.filterText()).toBe(EVEN_FILTER);
    await messages.search();

    const even = MESSAGES.filter((message) => Number(message.value.n) % 2 === 0);
    await expect
      .poll(async () => parsedRows(await messages.visibleRows()))
      .toEqual(expectedRows(even));
    expect(await messages.status.textContent()).toMatch(/^6 shown · 6 matched of 12 scanned/);
    const url = new URL(page.url());
    expect(url.searchParams.get('start')).toBe('oldest');
    expect(url.searchParams.get('filter')).toBe(EVEN_FILTER);
    await screenshot(page, 'messages', theme);
  });

  it('restores the search, filter included, from the URL', async () => {
    const messages = new MessagesTab(page);
    await messages.whileSearching(() => page.reload());
    expect(await messages.start.inputValue()).toBe('oldest');
    expect(await messages.partition.inputValue()).toBe('-1');
    await messages.filterEditor.waitFor();
    await expect.poll(() => messages.filterText()).toBe(EVEN_FILTER);
    const even = MESSAGES.filter((message) => Number(message.value.n) % 2 === 0);
    await expect
      .poll(async () => parsedRows(await messages.visibleRows()))
      .toEqual(expectedRows(even));

    // A link made by hand: partition 1 only, same filter.
    const link = `?start=oldest&partition=1&filter=${encodeURIComponent(EVEN_FILTER)}`;
    await messages.whileSearching(() => page.goto(TopicPage.path(topic) + link));
    expect(await messages.partition.inputValue()).toBe('1');
    await expect
      .poll(async () => parsedRows(await messages.visibleRows()))
      .toEqual(expectedRows(even.filter((message) => message.partition === 1)));
  });

  it('shows a filter syntax error inline, and the server refuses the filter', async () => {
    const messages = new MessagesTab(page);
    await messages.typeFilter(BROKEN_FILTER);
    await messages.syntaxErrorMarker.first().waitFor();

    await messages.search();
    const refusal = messages.failures.filter({ hasText: 'the filter does not compile' }).first();
    await refusal.waitFor();
    expect(await refusal.textContent()).toContain('line 1, column 10');
    expect(await messages.rows.count()).toBe(0);
  });

  it('edits retention.ms, which persists after a reload and through the API', async () => {
    const topicPage = new TopicPage(page, topic);
    await topicPage.goto('messages');
    const configuration = await topicPage.openConfiguration();
    const dialog = await configuration.openEditor('retention.ms');

    // The form checks the type before anything is sent.
    await dialog.value.fill('a week');
    await dialog.error('Must be a whole number.').waitFor();
    expect(await dialog.saveButton.isDisabled()).toBe(true);

    const oneDayMs = String(24 * 60 * 60 * 1000);
    await dialog.value.fill(oneDayMs);
    await dialog.saveButton.click();
    await dialog.root.waitFor({ state: 'hidden' });
    await new AppShell(page).toast(`retention.ms set to ${oneDayMs}`).waitFor();
    await configuration.source('retention.ms').getByText('topic override').waitFor();

    await page.reload();
    await configuration.row('retention.ms').waitFor();
    expect(await configuration.value('retention.ms').textContent()).toBe(
      `${oneDayMs}default: 604800000`,
    );
    expect(await configuration.source('retention.ms').textContent()).toBe('topic override');
    const entry = await api.topicConfig(topic, 'retention.ms');
    expect(entry).toMatchObject({ value: oneDayMs, is_default: false });

    await configuration.filter.fill('retention');
    await configuration.row('delete.retention.ms').waitFor();
    await screenshot(page, 'configuration', theme);
  });

  it("resets a stopped consumer group's offsets with a previewed plan", async () => {
    await consumeAndCommit(topic, group, MESSAGES.length);
    const committedEverything = { 0: 4, 1: 4, 2: 4 };
    expect(await api.committedOffsets(group, topic)).toEqual(committedEverything);

    const groups = new GroupsPage(page);
    await groups.goto();
    await groups.search.fill(group);
    await groups.row(group).waitFor();
    expect(await groups.cells(group).nth(1).textContent()).toBe('Empty');
    expect(await groups.cells(group).nth(4).textContent()).toBe('0');

    await groups.row(group).getByRole('link', { name: group }).click();
    const groupPage = new GroupPage(page, group);
    await groupPage.heading.waitFor();
    expect(await groupPage.offsetRows(topic)).toEqual([
      { partition: 0, committed: 4, lag: 0 },
      { partition: 1, committed: 4, lag: 0 },
      { partition: 2, committed: 4, lag: 0 },
    ]);

    const wizard = await groupPage.openResetDialog();
    expect(await wizard.topic.inputValue()).toBe(topic);
    await wizard.strategy.selectOption({ label: 'Earliest offset' });
    await wizard.previewButton.click();
    expect(await wizard.plan()).toEqual([
      { partition: 0, now: 4, after: 0 },
      { partition: 1, now: 4, after: 0 },
      { partition: 2, now: 4, after: 0 },
    ]);
    // A preview is a dry run: nothing moved yet.
    expect(await api.committedOffsets(group, topic)).toEqual(committedEverything);
    await screenshot(page, 'reset-offsets', theme);

    await wizard.applyButton.click();
    await wizard.root.waitFor({ state: 'hidden' });
    await new AppShell(page).toast(`Offsets of ${group} reset on ${topic}`).waitFor();
    const details = await api.group(group);
    expect(
      details?.offsets.map(({ partition, committed_offset, lag }) => ({
        partition,
        committed_offset,
        lag,
      })),
    ).toEqual([
      { partition: 0, committed_offset: 0, lag: 4 },
      { partition: 1, committed_offset: 0, lag: 4 },
      { partition: 2, committed_offset: 0, lag: 4 },
    ]);
    expect(details?.total_lag).toBe(12);

    // The page refreshes itself after the reset.
    await groupPage.summary.getByText(/total lag 12$/).waitFor();
    await expect
      .poll(() => groupPage.offsetRows(topic))
      .toEqual([
        { partition: 0, committed: 0, lag: 4 },
        { partition: 1, committed: 0, lag: 4 },
        { partition: 2, committed: 0, lag: 4 },
      ]);
    await groupPage.lagChart.locator('.recharts-bar-rectangle').first().waitFor();
    await new AppShell(page).dismissToasts();
    await screenshot(page, 'group', theme);
  });

  it('deletes the topic only after its name is typed', async () => {
    const topicPage = new TopicPage(page, topic);
    await topicPage.goto('partitions');
    const dialog = await topicPage.openDeleteDialog();
    expect(await dialog.deleteButton.isDisabled()).toBe(true);
    await dialog.confirmation.fill(`${topic}-typo`);
    expect(await dialog.deleteButton.isDisabled()).toBe(true);
    await dialog.confirmation.fill(topic);
    await dialog.deleteButton.click();

    const topics = new TopicsPage(page);
    await topics.heading.waitFor();
    await new AppShell(page).toast(`Topic ${topic} deleted`).waitFor();
    await topics.searchFor(topic);
    await topics.emptyState.getByText('No topics match').waitFor();
    expect(await topics.row(topic).count()).toBe(0);
    expect(await api.topic(topic)).toBeNull();
  });
});
