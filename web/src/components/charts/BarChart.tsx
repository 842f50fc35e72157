import { useRef } from 'react';
import {
  Bar,
  CartesianGrid,
  BarChart as RechartsBarChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import { useSingleTabStop } from './chart-focus';

export interface BarDatum {
  label: string;
  value: number;
}

/**
 * A single-series bar chart in the theme's colours. Loaded lazily (see
 * `LazyBarChart`): Recharts stays out of the first page load.
 */
export default function BarChart({
  data,
  formatValue,
  height = 220,
}: {
  data: BarDatum[];
  formatValue: (value: number) => string;
  height?: number;
}) {
  const container = useRef<HTMLDivElement>(null);
  useSingleTabStop(container);
  return (
    <div ref={container}>
      <ResponsiveContainer width="100%" height={height}>
        <RechartsBarChart data={data} margin={{ top: 8, right: 8, bottom: 0, left: 8 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="var(--border)" vertical={false} />
          <XAxis dataKey="label" stroke="var(--muted-foreground)" fontSize={12} tickLine={false} />
          <YAxis
            stroke="var(--muted-foreground)"
            fontSize={12}
            tickLine={false}
            width={72}
            tickFormatter={(value: number) => formatValue(value)}
          />
          <Tooltip
            cursor={{ fill: 'var(--muted)' }}
            contentStyle={{
              background: 'var(--popover)',
              border: '1px solid var(--border)',
              borderRadius: 6,
              color: 'var(--popover-foreground)',
            }}
            formatter={(value) => formatValue(Number(value))}
          />
          <Bar
            dataKey="value"
            fill="var(--primary)"
            radius={[4, 4, 0, 0]}
            maxBarSize={64}
            isAnimationActive={false}
          />
        </RechartsBarChart>
      </ResponsiveContainer>
    </div>
  );
}
