import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { TopicPage } from '@/api/types';
import { json, mockFetch, problem, renderRoute } from '@/test/render';
import TopicsPage from './TopicsPage';

afterEach(() => vi.unstubAllGlobals());

const PAGE: TopicPage = {
  items: [
    {
      name: 'orders',
      internal: false,
      partition_count: 6,
      replication_factor: 1,
      size_bytes: 2048,
      message_count: 1200,
      cleanup_policy: 'delete',
    },
    {
      name: 'users',
      internal: false,
      partition_count: 1,
      replication_factor: 1,
      size_bytes: null,
      message_count: null,
      cleanup_policy: 'compact',
    },
  ],
  total: 2,
  page: 1,
  page_size: 50,
};

const route = {
  path: '/clusters/:cluster/topics',
  url: '/clusters/local/topics?sort=size&order=desc',
};

describe('TopicsPage', () => {
  it('renders the page from the API with the URL state as query', async () => {
    const { calls } = mockFetch({ 'GET /api/v1/clusters/local/topics': () => json(PAGE) });
    renderRoute(<TopicsPage />, route);
    const table = await screen.findByTestId('topics-table');
    expect(within(table).getByRole('link', { name: 'orders' })).toHaveAttribute(
      'href',
      '/clusters/local/topics/orders/messages',
    );
    expect(within(table).getByText('2.0 KiB')).toBeInTheDocument();
    // The page also asks who the user is (`/auth/me`) for the read-only role.
    const list = calls.find((call) => call.url.pathname === '/api/v1/clusters/local/topics');
    expect(list?.url.searchParams.get('sort')).toBe('size');
    expect(list?.url.searchParams.get('order')).toBe('desc');
    expect(screen.getByRole('columnheader', { name: /size/i })).toHaveAttribute(
      'aria-sort',
      'descending',
    );
  });

  it('sorts by clicking a header and keeps it in the URL', async () => {
    mockFetch({ 'GET /api/v1/clusters/local/topics': () => json(PAGE) });
    const { router } = renderRoute(<TopicsPage />, route);
    await screen.findByTestId('topics-table');
    await userEvent.click(screen.getByRole('button', { name: /partitions/i }));
    await waitFor(() => expect(router.state.location.search).toContain('sort=partitions'));
    expect(router.state.location.search).not.toContain('order=');
  });

  it('shows the problem of a failed request instead of crashing', async () => {
    mockFetch({
      'GET /api/v1/clusters/local/topics': () =>
        problem(502, 'Bad Gateway', 'The cluster did not answer.'),
    });
    renderRoute(<TopicsPage />, route);
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('The cluster did not answer.');
    expect(screen.getByRole('button', { name: /try again/i })).toBeInTheDocument();
  });

  it('shows the 404 of an endpoint that does not exist yet', async () => {
    mockFetch({});
    renderRoute(<TopicsPage />, route);
    expect(await screen.findByRole('alert')).toHaveTextContent(
      'no API endpoint at /api/v1/clusters/local/topics',
    );
  });
});
