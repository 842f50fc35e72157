import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ConfigEntry, GroupDetails, Me, TopicDetails, TopicPage } from '@/api/types';
import GroupPage from '@/features/groups/GroupPage';
import ConfigurationTab from '@/features/topics/ConfigurationTab';
import TopicPageView from '@/features/topics/TopicPage';
import TopicsPage from '@/features/topics/TopicsPage';
import { json, mockFetch, renderRoute } from '@/test/render';
import { READ_ONLY_HINT, WriteButton } from './write-action';

afterEach(() => vi.unstubAllGlobals());

const READ_ONLY: Me = {
  username: 'viewer',
  role: 'read-only',
  auth_enabled: true,
  method: 'api_key',
};
const ADMIN: Me = { username: 'root', role: 'admin', auth_enabled: true, method: 'session' };

const TOPICS: TopicPage = { items: [], total: 0, page: 1, page_size: 50 };

const TOPIC: TopicDetails = {
  name: 'orders',
  topic_id: 'AAAAAAAAAAAAAAAAAAAAAA',
  internal: false,
  partition_count: 1,
  replication_factor: 1,
  cleanup_policy: 'delete',
  message_count: 10,
  size_bytes: 1024,
  overrides: {},
  partitions: [
    {
      partition: 0,
      leader: 1,
      leader_epoch: 0,
      replicas: [1],
      isr: [1],
      offline_replicas: [],
      log_start_offset: 0,
      high_watermark: 10,
      message_count: 10,
      size_bytes: 1024,
    },
  ],
};

const CONFIG: ConfigEntry = {
  name: 'retention.ms',
  value: '604800000',
  default_value: '604800000',
  documentation: 'How long to keep records.',
  is_default: true,
  read_only: false,
  sensitive: false,
  source: 'DEFAULT_CONFIG',
  synonyms: [],
  type: 'LONG',
};

const GROUP: GroupDetails = {
  group_id: 'billing',
  state: 'Empty',
  type: 'classic',
  protocol_type: 'consumer',
  protocol: '',
  coordinator: 1,
  members: [],
  offsets: [
    {
      topic: 'orders',
      partition: 0,
      committed_offset: 4,
      end_offset: 10,
      lag: 6,
      metadata: '',
    },
  ],
  total_lag: 6,
};

/**
 * The button named `name` once `me` has answered read-only (the button is
 * re-rendered then, so an element found earlier is stale).
 */
async function findRefused(name: string): Promise<HTMLElement> {
  return waitFor(() => {
    const button = screen.getByRole('button', { name });
    expect(button).toHaveAttribute('aria-disabled', 'true');
    return button;
  });
}

/** Expects a mutating control to be shown but refused, with the reason on focus. */
async function expectRefused(button: HTMLElement) {
  expect(button).toHaveAttribute('aria-disabled', 'true');
  button.focus();
  expect(await screen.findByRole('tooltip')).toHaveTextContent(READ_ONLY_HINT);
  await userEvent.keyboard('{Escape}');
}

describe('WriteButton', () => {
  it('acts for an admin', async () => {
    mockFetch({ 'GET /api/v1/auth/me': () => json(ADMIN) });
    const onClick = vi.fn();
    renderRoute(<WriteButton onClick={onClick}>Create topic</WriteButton>, {
      path: '/',
      url: '/',
    });
    const button = screen.getByRole('button', { name: 'Create topic' });
    await waitFor(() => expect(button).not.toHaveAttribute('aria-disabled'));
    await userEvent.click(button);
    expect(onClick).toHaveBeenCalledOnce();
  });

  it('refuses for a read-only role, stays focusable and says why', async () => {
    mockFetch({ 'GET /api/v1/auth/me': () => json(READ_ONLY) });
    const onClick = vi.fn();
    renderRoute(<WriteButton onClick={onClick}>Create topic</WriteButton>, {
      path: '/',
      url: '/',
    });
    const button = await findRefused('Create topic');
    await userEvent.click(button);
    expect(onClick).not.toHaveBeenCalled();
    button.blur();
    await userEvent.tab();
    expect(button).toHaveFocus();
    expect(await screen.findByRole('tooltip')).toHaveTextContent('read-only role');
  });
});

describe('read-only role on the pages', () => {
  it('topics: create topic is refused', async () => {
    mockFetch({
      'GET /api/v1/auth/me': () => json(READ_ONLY),
      'GET /api/v1/clusters/local/topics': () => json(TOPICS),
    });
    renderRoute(<TopicsPage />, {
      path: '/clusters/:cluster/topics',
      url: '/clusters/local/topics',
    });
    await screen.findByTestId('empty-state');
    const buttons = await waitFor(() => {
      const found = screen.getAllByRole('button', { name: 'Create topic' });
      expect(found).toHaveLength(2);
      for (const button of found) expect(button).toHaveAttribute('aria-disabled', 'true');
      return found;
    });
    for (const button of buttons) await expectRefused(button);
    await userEvent.click(buttons[0] as HTMLElement);
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
  });

  it('topic: produce and every topic action are refused', async () => {
    mockFetch({
      'GET /api/v1/auth/me': () => json(READ_ONLY),
      'GET /api/v1/clusters/local/topics/orders': () => json(TOPIC),
    });
    renderRoute(<TopicPageView />, {
      path: '/clusters/:cluster/topics/:topic',
      url: '/clusters/local/topics/orders',
    });
    await expectRefused(await findRefused('Produce'));
    const actions = screen.getByRole('button', { name: 'Actions' });
    await expectRefused(actions);
    await userEvent.click(actions);
    expect(screen.queryByRole('menu')).not.toBeInTheDocument();
  });

  it('topic: an admin gets the actions menu, delete records included', async () => {
    mockFetch({
      'GET /api/v1/auth/me': () => json(ADMIN),
      'GET /api/v1/clusters/local/topics/orders': () => json(TOPIC),
    });
    renderRoute(<TopicPageView />, {
      path: '/clusters/:cluster/topics/:topic',
      url: '/clusters/local/topics/orders',
    });
    await screen.findByText(/partitions × 1 replicas/);
    await userEvent.click(screen.getByRole('button', { name: 'Actions' }));
    const menu = await screen.findByRole('menu');
    expect(
      within(menu)
        .getAllByRole('menuitem')
        .map((item) => item.textContent?.trim()),
    ).toEqual(['Add partitions', 'Delete records', 'Empty topic', 'Delete topic']);
  });

  it('configuration: edit and reset are refused', async () => {
    mockFetch({
      'GET /api/v1/auth/me': () => json(READ_ONLY),
      'GET /api/v1/clusters/local/topics/orders/configs': () =>
        json([{ ...CONFIG, is_default: false, source: 'DYNAMIC_TOPIC_CONFIG', value: '1000' }]),
    });
    renderRoute(<ConfigurationTab />, {
      path: '/clusters/:cluster/topics/:topic/configuration',
      url: '/clusters/local/topics/orders/configuration',
    });
    const edit = await findRefused('Edit retention.ms');
    await expectRefused(edit);
    await expectRefused(screen.getByRole('button', { name: 'Reset retention.ms to default' }));
    await userEvent.click(edit);
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
  });

  it('group: reset offsets and delete are refused', async () => {
    mockFetch({
      'GET /api/v1/auth/me': () => json(READ_ONLY),
      'GET /api/v1/clusters/local/groups/billing': () => json(GROUP),
    });
    renderRoute(<GroupPage />, {
      path: '/clusters/:cluster/groups/:group',
      url: '/clusters/local/groups/billing',
    });
    const reset = await findRefused('Reset offsets');
    await expectRefused(reset);
    await expectRefused(screen.getByRole('button', { name: 'Delete' }));
    await userEvent.click(reset);
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
  });
});
