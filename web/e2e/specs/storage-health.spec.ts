/**
 * Damaged data, once per theme, on the second broker e2e/run.mjs started
 * (support/damaged-cluster.mjs): one batch of `ledger` partition 0 was moved
 * to the quarantine directory by recovery, another is still served after the
 * scrubber found it. The overview warns and links to the topic; the topic's
 * partitions tab marks the partition and lists both ranges as the API does.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { StorageHealth } from '@/api/types';
import { OverviewPage } from '../pages/OverviewPage';
import { PartitionsTab } from '../pages/PartitionsTab';
import { ConsoleApi } from '../support/api';
import {
  collectPageErrors,
  damagedClusterUrl,
  launchBrowser,
  screenshot,
  THEMES,
  themedContext,
} from '../support/browser';
import { DAMAGED_TOPIC } from '../support/damaged-cluster.mjs';

const api = new ConsoleApi(damagedClusterUrl());
let browser: Browser;
/** Both ranges, once the scrubber has reported its one. */
let health: StorageHealth;

beforeAll(async () => {
  browser = await launchBrowser();
  // The scrubber's range comes a moment after start-up, recovery's at once.
  health = await vi.waitFor(
    async () => {
      const answer = await api.storageHealth();
      if (answer?.damaged_range_count !== 2)
        throw new Error(`not both ranges yet: ${JSON.stringify(answer)}`);
      return answer;
    },
    { timeout: 30_000, interval: 100 },
  );
});

afterAll(async () => {
  await browser?.close();
});

describe.each(THEMES)('damaged data in the %s theme', (theme) => {
  let context: BrowserContext;
  let page: Page;
  let pageErrors: string[];

  beforeAll(async () => {
    context = await themedContext(browser, theme, damagedClusterUrl());
    page = await context.newPage();
    pageErrors = collectPageErrors(page);
  });

  afterEach(() => {
    expect(pageErrors.splice(0)).toEqual([]);
  });

  afterAll(async () => {
    await context?.close();
  });

  it('the overview warns and links to the damaged topic', async () => {
    expect(health.partitions.map((p) => [p.topic, p.partition])).toEqual([[DAMAGED_TOPIC, 0]]);
    const overview = new OverviewPage(page);
    await overview.goto();
    await overview.damageCard.waitFor();
    expect(await overview.health.textContent()).toBe('Damaged data');
    const text = await overview.damageCard.textContent();
    expect(text).toContain('Damaged data: 2 damaged ranges in 1 partition');
    expect(text).toContain('1 range moved out of the log by recovery');
    expect(text).toContain('1 range still served: consumers reading it get a CRC error.');
    await screenshot(page, 'storage-damage-overview', theme);

    await overview.damagedTopicLink(DAMAGED_TOPIC).click();
    await page.waitForURL(`**/topics/${DAMAGED_TOPIC}/partitions`);
  });

  it("the topic's partitions mark the damaged partition and list its ranges", async () => {
    const partitions = new PartitionsTab(page);
    await partitions.damagedRanges.waitFor();
    expect(await partitions.row(0).textContent()).toContain('damaged: 2 ranges');
    expect(await partitions.row(1).textContent()).not.toContain('damaged');
    expect(await partitions.damagedRangesTitle.textContent()).toBe(
      'Damaged data: 2 ranges in 1 partition',
    );

    const [quarantined, served] = health.partitions[0]?.damaged_ranges ?? [];
    expect(quarantined?.state).toBe('quarantined');
    expect(served?.state).toBe('served');
    const rows = partitions.damagedRangeRows();
    expect(await rows.count()).toBe(2);
    const first = (await rows.nth(0).textContent()) ?? '';
    expect(first).toContain(`offset ${quarantined?.first_offset} lost`);
    expect(first).toContain('Moved out of the log by recovery');
    expect(first).toContain(quarantined?.quarantined_to ?? 'a quarantine path');
    expect(first).toContain(quarantined?.reason ?? 'a reason');
    const second = (await rows.nth(1).textContent()) ?? '';
    expect(second).toContain(`offset ${served?.first_offset} affected`);
    expect(second).toContain('Still served; a consumer reading it gets a CRC error.');
    await partitions.damagedRanges.scrollIntoViewIfNeeded();
    await screenshot(page, 'storage-damage-partitions', theme);
  });
});
