import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

/**
 * Debian's chromium, launched by playwright-core. Browsers cannot be
 * downloaded here, so `playwright install` is never used; these flags keep
 * chromium from reaching the network on its own.
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export type Theme = 'light' | 'dark';
export const THEMES: Theme[] = ['light', 'dark'];

const screenshotsDir = fileURLToPath(new URL('../screenshots/', import.meta.url));

export function baseUrl(): string {
  const url = process.env.TAKHIN_URL;
  if (!url) throw new Error('TAKHIN_URL is not set: run the specs through e2e/run.mjs');
  return url;
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
  });
}

/**
 * A fresh context in one theme: the preference is stored the way the
 * console stores it, and the OS preference is emulated to match, so both
 * the inline pre-paint script and React agree.
 */
export async function themedContext(browser: Browser, theme: Theme): Promise<BrowserContext> {
  const context = await browser.newContext({
    baseURL: baseUrl(),
    colorScheme: theme,
    viewport: { width: 1440, height: 900 },
  });
  await context.addInitScript((value) => {
    window.localStorage.setItem('takhin.theme', value);
  }, theme);
  return context;
}

/** Saves `<name>-<theme>.png` under e2e/screenshots/ (artifacts; git keeps only readme-*). */
export async function screenshot(page: Page, name: string, theme: Theme): Promise<string> {
  await mkdir(screenshotsDir, { recursive: true });
  const file = path.join(screenshotsDir, `${name}-${theme}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
