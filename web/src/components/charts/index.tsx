import { type ComponentProps, lazy, Suspense } from 'react';
import { Skeleton } from '@/components/ui/skeleton';

const BarChart = lazy(() => import('./BarChart'));

export type { BarDatum } from './BarChart';

export function LazyBarChart(props: ComponentProps<typeof BarChart>) {
  return (
    <Suspense fallback={<Skeleton style={{ height: props.height ?? 220 }} className="w-full" />}>
      <BarChart {...props} />
    </Suspense>
  );
}
