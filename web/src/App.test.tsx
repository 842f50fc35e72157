import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { json, mockFetch } from '@/test/render';
import { App } from './App';

afterEach(() => vi.unstubAllGlobals());

beforeEach(() => {
  document.documentElement.classList.remove('dark');
});

const CLUSTERS = [
  { name: 'local', bootstrap_servers: ['localhost:9092'], default: true },
  { name: 'staging', bootstrap_servers: ['staging:9092'], default: false },
];

function at(path: string) {
  window.history.pushState({}, '', path);
}

describe('App shell', () => {
  it('opens the default cluster and shows its navigation', async () => {
    mockFetch({ 'GET /api/v1/clusters': () => json(CLUSTERS) });
    at('/');
    render(<App />);
    await waitFor(() => expect(window.location.pathname).toBe('/clusters/local/overview'));
    const nav = screen.getByRole('navigation', { name: 'Main' });
    expect(nav).toHaveTextContent('Consumer groups');
    expect(screen.getByRole('link', { name: 'Topics' })).toHaveAttribute(
      'href',
      '/clusters/local/topics',
    );
    expect(await screen.findByRole('combobox', { name: 'Cluster' })).toHaveValue('local');
    expect(screen.getByRole('link', { name: /API docs/ })).toHaveAttribute('href', '/api/docs');
  });

  it('switches theme from the menu and remembers it', async () => {
    mockFetch({ 'GET /api/v1/clusters': () => json(CLUSTERS) });
    at('/settings');
    render(<App />);
    await userEvent.click(await screen.findByRole('radio', { name: 'Dark' }));
    expect(document.documentElement).toHaveClass('dark');
    expect(window.localStorage.getItem('takhin.theme')).toBe('dark');
    await userEvent.click(screen.getByRole('radio', { name: 'Light' }));
    expect(document.documentElement).not.toHaveClass('dark');
  });

  it('shows a 404 page for an unknown path', async () => {
    mockFetch({ 'GET /api/v1/clusters': () => json(CLUSTERS) });
    at('/no/such/page');
    render(<App />);
    expect(await screen.findByText('Page not found')).toBeInTheDocument();
  });

  it('sends a signed-out user to the login page', async () => {
    mockFetch({
      'GET /api/v1/auth/me': () =>
        json({ type: 'about:blank', title: 'Unauthorized', status: 401, detail: 'Sign in.' }, 401),
    });
    at('/clusters/local/topics');
    render(<App />);
    expect(await screen.findByRole('heading', { name: 'Sign in to Takhin' })).toBeInTheDocument();
    expect(window.location.search).toBe(`?next=${encodeURIComponent('/clusters/local/topics')}`);
  });
});
