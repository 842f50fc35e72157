import { useRef } from 'react';
import {
  Area,
  AreaChart,
  CartesianGrid,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import { formatClock, formatTimestamp } from '@/lib/format';
import { useSingleTabStop } from './chart-focus';

/** One line of a time series chart: which field of each point, its name and colour. */
export interface TimeSeries<K extends string> {
  key: K;
  label: string;
  /** A CSS colour; the `--chart-N` variables follow the theme. */
  color: string;
}

export interface TimeSeriesChartProps<K extends string> {
  /** Oldest first; `time_ms` is milliseconds since the epoch. */
  data: readonly ({ time_ms: number } & Record<K, number>)[];
  series: readonly TimeSeries<K>[];
  /** The window shown, [start, end] in epoch ms: the axis stays put while it fills. */
  domain: [number, number];
  formatValue: (value: number) => string;
  /** Names the chart for screen readers. */
  label: string;
  height?: number;
}

const TICK_STEP_MS = 10 * 60_000;

/** Axis ticks on whole ten minutes inside `[start, end]`. */
export function clockTicks([start, end]: [number, number]): number[] {
  const ticks: number[] = [];
  for (let tick = Math.ceil(start / TICK_STEP_MS) * TICK_STEP_MS; tick <= end; tick += TICK_STEP_MS)
    ticks.push(tick);
  return ticks;
}

/**
 * Lines over time with a legend, in the theme's colours. Loaded lazily (see
 * `LazyTimeSeriesChart`): Recharts stays out of the first page load.
 */
export default function TimeSeriesChart<K extends string>({
  data,
  series,
  domain,
  formatValue,
  label,
  height = 220,
}: TimeSeriesChartProps<K>) {
  const figure = useRef<HTMLElement>(null);
  useSingleTabStop(figure);
  return (
    <figure ref={figure} className="space-y-2" aria-label={label}>
      <ResponsiveContainer width="100%" height={height}>
        <AreaChart data={[...data]} margin={{ top: 8, right: 8, bottom: 0, left: 8 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="var(--border)" vertical={false} />
          <XAxis
            dataKey="time_ms"
            type="number"
            scale="time"
            domain={domain}
            ticks={clockTicks(domain)}
            tickFormatter={formatClock}
            stroke="var(--muted-foreground)"
            fontSize={12}
            tickLine={false}
            allowDataOverflow
          />
          <YAxis
            stroke="var(--muted-foreground)"
            fontSize={12}
            tickLine={false}
            width={80}
            tickFormatter={(value: number) => formatValue(value)}
          />
          <Tooltip
            contentStyle={{
              background: 'var(--popover)',
              border: '1px solid var(--border)',
              borderRadius: 6,
              color: 'var(--popover-foreground)',
            }}
            labelFormatter={(time) => formatTimestamp(Number(time))}
            formatter={(value, name) => [formatValue(Number(value)), name]}
          />
          {series.map((line) => (
            <Area
              key={line.key}
              type="monotone"
              dataKey={line.key}
              name={line.label}
              stroke={line.color}
              fill={line.color}
              fillOpacity={0.12}
              strokeWidth={2}
              dot={false}
              isAnimationActive={false}
            />
          ))}
        </AreaChart>
      </ResponsiveContainer>
      <figcaption className="flex flex-wrap gap-4 text-xs text-muted-foreground">
        {series.map((line) => (
          <span key={line.key} className="inline-flex items-center gap-1.5">
            <span
              aria-hidden="true"
              className="inline-block size-2.5 rounded-sm"
              style={{ background: line.color }}
            />
            {line.label}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
