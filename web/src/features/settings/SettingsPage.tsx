import { useNavigate } from 'react-router';
import { useMe } from '@/api/auth';
import { useClusters } from '@/api/clusters';
import { useHealth } from '@/api/health';
import { API_DOCS_PATH, OPENAPI_PATH } from '@/api/http';
import { PageHeader } from '@/components/page-header';
import { QueryView } from '@/components/states';
import { Badge } from '@/components/ui/badge';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import {
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableHeader,
  TableRow,
} from '@/components/ui/table';
import { THEME_OPTIONS } from '@/layout/ThemeSwitcher';
import { lastCluster, paths, rememberCluster } from '@/lib/cluster';
import { formatDuration } from '@/lib/format';
import { useTheme } from '@/lib/theme';
import { cn } from '@/lib/utils';

export default function SettingsPage() {
  return (
    <div className="space-y-6">
      <PageHeader title="Settings" description="Stored in this browser." />
      <ThemeCard />
      <ClustersCard />
      <AboutCard />
    </div>
  );
}

function ThemeCard() {
  const { preference, setPreference } = useTheme();
  return (
    <Card>
      <CardHeader>
        <CardTitle>Theme</CardTitle>
        <CardDescription>
          System follows your operating system's setting as it changes.
        </CardDescription>
      </CardHeader>
      <CardContent>
        <div role="radiogroup" aria-label="Theme" className="flex flex-wrap gap-3">
          {THEME_OPTIONS.map(({ value, label, Icon }) => (
            <label
              key={value}
              className={cn(
                'flex cursor-pointer items-center gap-2 rounded-md border px-4 py-3 text-sm has-[:focus-visible]:ring-[3px] has-[:focus-visible]:ring-ring/50',
                preference === value && 'border-primary bg-accent',
              )}
            >
              <input
                type="radio"
                name="theme"
                value={value}
                className="sr-only"
                checked={preference === value}
                onChange={() => setPreference(value)}
              />
              <Icon className="size-4" aria-hidden="true" />
              {label}
            </label>
          ))}
        </div>
      </CardContent>
    </Card>
  );
}

function ClustersCard() {
  const clusters = useClusters();
  const navigate = useNavigate();
  const current = lastCluster();
  return (
    <Card>
      <CardHeader>
        <CardTitle>Clusters</CardTitle>
        <CardDescription>Configured on the server; pick the one the console opens.</CardDescription>
      </CardHeader>
      <CardContent>
        <QueryView query={clusters}>
          {(list) => (
            <Table>
              <TableHeader>
                <TableRow>
                  <TableHead>Name</TableHead>
                  <TableHead>Bootstrap servers</TableHead>
                  <TableHead>
                    <span className="sr-only">Actions</span>
                  </TableHead>
                </TableRow>
              </TableHeader>
              <TableBody>
                {list.map((cluster) => (
                  <TableRow key={cluster.name}>
                    <TableCell className="font-medium">
                      {cluster.name}
                      {cluster.default ? (
                        <Badge variant="secondary" className="ml-2">
                          default
                        </Badge>
                      ) : null}
                    </TableCell>
                    <TableCell className="font-mono text-xs">
                      {cluster.bootstrap_servers.join(', ')}
                    </TableCell>
                    <TableCell className="text-right">
                      {current === cluster.name ? (
                        <Badge>current</Badge>
                      ) : (
                        <button
                          type="button"
                          className="text-sm text-primary hover:underline"
                          onClick={() => {
                            rememberCluster(cluster.name);
                            navigate(paths.overview(cluster.name));
                          }}
                        >
                          Open
                        </button>
                      )}
                    </TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          )}
        </QueryView>
      </CardContent>
    </Card>
  );
}

function AboutCard() {
  const health = useHealth();
  const me = useMe();
  return (
    <Card>
      <CardHeader>
        <CardTitle>About</CardTitle>
      </CardHeader>
      <CardContent className="grid gap-1 text-sm">
        <p>
          Server version: <span className="font-mono">{health.data?.version ?? '—'}</span>
          {health.data ? ` · up ${formatDuration(health.data.uptime_seconds * 1000)}` : null}
        </p>
        <p>
          API:{' '}
          <a href={API_DOCS_PATH} className="text-primary hover:underline">
            interactive documentation
          </a>{' '}
          ·{' '}
          <a href={OPENAPI_PATH} className="text-primary hover:underline">
            OpenAPI document
          </a>
        </p>
        <p>
          Authentication:{' '}
          {me.data
            ? me.data.auth_enabled
              ? `on (${me.data.username}, ${me.data.role}, by ${me.data.method.replace('_', ' ')})`
              : 'off'
            : '—'}
        </p>
      </CardContent>
    </Card>
  );
}
