import type { GroupState } from '@/api/types';
import { Badge, type BadgeVariant } from '@/components/ui/badge';

const VARIANTS: Record<string, BadgeVariant> = {
  Stable: 'success',
  Empty: 'secondary',
  Dead: 'destructive',
  PreparingRebalance: 'warning',
  CompletingRebalance: 'warning',
  Assigning: 'warning',
  Reconciling: 'warning',
};

export function GroupStateBadge({ state }: { state: GroupState }) {
  return <Badge variant={VARIANTS[state] ?? 'outline'}>{state}</Badge>;
}
