import { ActivityIcon } from 'lucide-react';
import type { ReactNode } from 'react';
import { useThroughput } from '@/api/clusters';
import type { Throughput, ThroughputPoint } from '@/api/types';
import { LazyTimeSeriesChart, type TimeSeries } from '@/components/charts';
import { EmptyState, ErrorState } from '@/components/states';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Skeleton } from '@/components/ui/skeleton';
import { formatBytesPerSecond, formatRate } from '@/lib/format';

/** The charts show the hour the server keeps. */
export const THROUGHPUT_WINDOW_MS = 60 * 60_000;

type RateKey = keyof Omit<ThroughputPoint, 'time_ms'>;

const BYTE_SERIES: TimeSeries<RateKey>[] = [
  { key: 'bytes_in_per_sec', label: 'Bytes in', color: 'var(--chart-1)' },
  { key: 'bytes_out_per_sec', label: 'Bytes out', color: 'var(--chart-2)' },
];

const REQUEST_SERIES: TimeSeries<RateKey>[] = [
  { key: 'requests_per_sec', label: 'Requests', color: 'var(--chart-3)' },
  { key: 'records_in_per_sec', label: 'Records in', color: 'var(--chart-1)' },
];

/** The last hour, ending at the newest point (or now, before there is one). */
export function throughputDomain(points: ThroughputPoint[], now = Date.now()): [number, number] {
  const end = points.at(-1)?.time_ms ?? now;
  return [end - THROUGHPUT_WINDOW_MS, end];
}

/**
 * Bytes in/out and requests per second over the last hour, refreshed as the
 * server samples. A cluster without a metrics source (the Kafka protocol
 * carries none; only `takhin serve` has its own broker's counters) says so
 * instead of drawing empty axes.
 */
export function ThroughputCharts({ cluster }: { cluster: string }) {
  const throughput = useThroughput(cluster);
  return (
    <div className="grid gap-4 lg:grid-cols-2" data-testid="throughput">
      <ThroughputCard
        title="Bytes per second"
        description="Produced to and fetched from the broker, last hour."
      >
        <ThroughputBody
          query={throughput}
          render={(data) => (
            <LazyTimeSeriesChart
              label="Bytes in and out per second over the last hour"
              data={data.points}
              series={BYTE_SERIES}
              domain={throughputDomain(data.points)}
              formatValue={formatBytesPerSecond}
            />
          )}
        />
      </ThroughputCard>
      <ThroughputCard
        title="Requests per second"
        description="Kafka requests served and records produced, last hour."
      >
        <ThroughputBody
          query={throughput}
          render={(data) => (
            <LazyTimeSeriesChart
              label="Requests and records per second over the last hour"
              data={data.points}
              series={REQUEST_SERIES}
              domain={throughputDomain(data.points)}
              formatValue={formatRate}
            />
          )}
        />
      </ThroughputCard>
    </div>
  );
}

function ThroughputCard({
  title,
  description,
  children,
}: {
  title: string;
  description: string;
  children: ReactNode;
}) {
  return (
    <Card>
      <CardHeader>
        <CardTitle>{title}</CardTitle>
        <CardDescription>{description}</CardDescription>
      </CardHeader>
      <CardContent>{children}</CardContent>
    </Card>
  );
}

function ThroughputBody({
  query,
  render,
}: {
  query: ReturnType<typeof useThroughput>;
  render: (data: Throughput) => ReactNode;
}) {
  if (query.isPending) return <Skeleton className="h-[244px] w-full" />;
  if (query.error) {
    return <ErrorState error={query.error} onRetry={() => void query.refetch()} />;
  }
  const data = query.data;
  if (!data.available) {
    return (
      <EmptyState
        icon={<ActivityIcon />}
        title="Throughput is unavailable for this cluster"
        description="The Kafka protocol carries no metrics. Throughput is shown for the broker that takhin serve runs, not for clusters the console only connects to."
      />
    );
  }
  if (data.points.length === 0) {
    return (
      <EmptyState
        icon={<ActivityIcon />}
        title="Collecting samples"
        description={`The first point appears within ${data.interval_seconds * 2} seconds.`}
      />
    );
  }
  return <>{render(data)}</>;
}
