import {
  BookOpenIcon,
  ExternalLinkIcon,
  GaugeIcon,
  LayersIcon,
  LogOutIcon,
  type LucideIcon,
  ServerIcon,
  SettingsIcon,
  UsersIcon,
} from 'lucide-react';
import { Suspense, useEffect } from 'react';
import { Navigate, NavLink, Outlet, useLocation, useNavigate, useParams } from 'react-router';
import { toast } from 'sonner';
import { useLogout, useMe } from '@/api/auth';
import { defaultCluster, useClusters } from '@/api/clusters';
import { API_DOCS_PATH, isApiError } from '@/api/http';
import { PageSkeleton } from '@/components/page-skeleton';
import { Button } from '@/components/ui/button';
import { FALLBACK_CLUSTER, lastCluster, paths, rememberCluster } from '@/lib/cluster';
import { cn } from '@/lib/utils';
import { ClusterSelector } from './ClusterSelector';
import { ThemeSwitcher } from './ThemeSwitcher';

interface NavItem {
  label: string;
  to: (cluster: string) => string;
  Icon: LucideIcon;
}

const NAV_ITEMS: NavItem[] = [
  { label: 'Overview', to: paths.overview, Icon: GaugeIcon },
  { label: 'Topics', to: paths.topics, Icon: LayersIcon },
  { label: 'Consumer groups', to: paths.groups, Icon: UsersIcon },
  { label: 'Brokers', to: paths.brokers, Icon: ServerIcon },
  { label: 'Settings', to: paths.settings, Icon: SettingsIcon },
];

/** The cluster the sidebar links to: the URL's, else the last used, else the default. */
function useShellCluster(): string {
  const { cluster } = useParams();
  const clusters = useClusters();
  useEffect(() => {
    if (cluster !== undefined) rememberCluster(cluster);
  }, [cluster]);
  return cluster ?? lastCluster() ?? defaultCluster(clusters.data)?.name ?? FALLBACK_CLUSTER;
}

export function AppShell() {
  const cluster = useShellCluster();
  const me = useMe();
  const location = useLocation();

  if (isApiError(me.error) && me.error.status === 401) {
    const next = `${location.pathname}${location.search}`;
    return <Navigate to={`${paths.login()}?next=${encodeURIComponent(next)}`} replace />;
  }

  return (
    <div className="flex min-h-screen">
      <a
        href="#main"
        className="sr-only z-50 rounded-md bg-background px-3 py-2 focus:not-sr-only focus:fixed focus:top-2 focus:left-2"
      >
        Skip to content
      </a>
      {/* The outer box paints the sidebar's full height; the inner one stays in view. */}
      <div className="w-60 shrink-0 border-r bg-sidebar">
        <aside className="sticky top-0 flex h-screen flex-col">
          <div className="flex h-14 items-center justify-between gap-2 px-4">
            <NavLink
              to={paths.overview(cluster)}
              className="flex items-center gap-2 font-semibold tracking-tight"
            >
              <span
                aria-hidden="true"
                className="grid size-7 place-items-center rounded-md bg-primary text-primary-foreground"
              >
                T
              </span>
              Takhin
            </NavLink>
            <ThemeSwitcher />
          </div>
          <div className="px-3 pb-3">
            <ClusterSelector current={cluster} />
          </div>
          <nav aria-label="Main" className="flex-1 overflow-y-auto px-3">
            <ul className="space-y-1">
              {NAV_ITEMS.map(({ label, to, Icon }) => (
                <li key={label}>
                  <NavLink
                    to={to(cluster)}
                    className={({ isActive }) =>
                      cn(
                        'flex h-9 items-center gap-3 rounded-md px-3 text-sm font-medium outline-none transition-colors focus-visible:ring-[3px] focus-visible:ring-ring/50',
                        isActive
                          ? 'bg-accent text-accent-foreground'
                          : 'text-muted-foreground hover:bg-accent/60 hover:text-foreground',
                      )
                    }
                  >
                    <Icon className="size-4" aria-hidden="true" />
                    {label}
                  </NavLink>
                </li>
              ))}
            </ul>
            <a
              href={API_DOCS_PATH}
              target="_blank"
              rel="noopener"
              className="mt-4 flex h-9 items-center gap-3 rounded-md px-3 text-sm font-medium text-muted-foreground outline-none transition-colors hover:bg-accent/60 hover:text-foreground focus-visible:ring-[3px] focus-visible:ring-ring/50"
            >
              <BookOpenIcon className="size-4" aria-hidden="true" />
              API docs
              <ExternalLinkIcon className="ml-auto size-3.5" aria-hidden="true" />
              <span className="sr-only">(opens in a new tab)</span>
            </a>
          </nav>
          {me.data?.auth_enabled ? (
            <UserFooter username={me.data.username} role={me.data.role} />
          ) : null}
        </aside>
      </div>
      <main id="main" className="min-w-0 flex-1 px-8 py-6">
        <Suspense fallback={<PageSkeleton />}>
          <Outlet />
        </Suspense>
      </main>
    </div>
  );
}

function UserFooter({ username, role }: { username: string; role: string }) {
  const logout = useLogout();
  const navigate = useNavigate();
  return (
    <div className="flex items-center justify-between gap-2 border-t px-4 py-3 text-sm">
      <div className="min-w-0">
        <p className="truncate font-medium">{username}</p>
        <p className="text-xs text-muted-foreground">{role}</p>
      </div>
      <Button
        variant="ghost"
        size="icon-sm"
        aria-label="Sign out"
        onClick={() =>
          logout.mutate(undefined, {
            onSuccess: () => navigate(paths.login()),
            onError: (error) => toast.error('Sign-out failed', { description: error.message }),
          })
        }
      >
        <LogOutIcon />
      </Button>
    </div>
  );
}
