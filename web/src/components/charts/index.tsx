import { type ComponentProps, lazy, Suspense } from 'react';
import { Skeleton } from '@/components/ui/skeleton';
import type { TimeSeriesChartProps } from './TimeSeriesChart';

const BarChart = lazy(() => import('./BarChart'));
const TimeSeriesChart = lazy(() => import('./TimeSeriesChart'));

export type { BarDatum } from './BarChart';
export type { TimeSeries } from './TimeSeriesChart';

export function LazyBarChart(props: ComponentProps<typeof BarChart>) {
  return (
    <Suspense fallback={<Skeleton style={{ height: props.height ?? 220 }} className="w-full" />}>
      <BarChart {...props} />
    </Suspense>
  );
}

export function LazyTimeSeriesChart<K extends string>(props: TimeSeriesChartProps<K>) {
  return (
    <Suspense fallback={<Skeleton style={{ height: props.height ?? 220 }} className="w-full" />}>
      {/* lazy() loses the generic: the props were checked against it above. */}
      <TimeSeriesChart {...(props as unknown as TimeSeriesChartProps<string>)} />
    </Suspense>
  );
}
