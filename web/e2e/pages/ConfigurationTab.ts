import type { Locator, Page } from 'playwright-core';

/** A topic's configs: filter, value and source per entry, edit and reset-to-default. */
export class ConfigurationTab {
  readonly filter: Locator;
  readonly overridesOnly: Locator;
  readonly table: Locator;

  constructor(readonly page: Page) {
    const main = page.getByRole('main');
    this.filter = main.getByRole('searchbox', { name: 'Filter configs' });
    this.overridesOnly = main.getByLabel('Overrides only');
    this.table = main.getByRole('table');
  }

  row(name: string): Locator {
    return this.table.getByRole('row').filter({ has: this.page.getByText(name, { exact: true }) });
  }

  /** The row's cells in column order: name, value (and default), source, actions. */
  value(name: string): Locator {
    return this.row(name).getByRole('cell').nth(1);
  }

  source(name: string): Locator {
    return this.row(name).getByRole('cell').nth(2);
  }

  async openEditor(name: string): Promise<EditConfigDialog> {
    await this.filter.fill(name);
    await this.row(name)
      .getByRole('button', { name: `Edit ${name}` })
      .click();
    const dialog = new EditConfigDialog(this.page, name);
    await dialog.root.waitFor();
    return dialog;
  }
}

export class EditConfigDialog {
  readonly root: Locator;
  readonly value: Locator;
  readonly saveButton: Locator;

  constructor(
    readonly page: Page,
    name: string,
  ) {
    this.root = page.getByRole('dialog', { name });
    this.value = this.root.getByLabel(/^Value/);
    this.saveButton = this.root.getByRole('button', { name: 'Save', exact: true });
  }

  /** A validation message shown under the value. */
  error(message: string): Locator {
    return this.root.getByText(message, { exact: true });
  }
}
