import { RotateCcwIcon, Trash2Icon } from 'lucide-react';
import { useMemo, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { toast } from 'sonner';
import { useDeleteGroup, useGroup } from '@/api/groups';
import type { GroupDetails } from '@/api/types';
import { LazyBarChart } from '@/components/charts';
import { ConfirmDialog } from '@/components/confirm-dialog';
import { PageHeader } from '@/components/page-header';
import { describeError, EmptyState, QueryView } from '@/components/states';
import { Card, CardContent, CardHeader, CardTitle } from '@/components/ui/card';
import {
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableHeader,
  TableRow,
} from '@/components/ui/table';
import { WriteButton } from '@/components/write-action';
import { paths, useCluster } from '@/lib/cluster';
import { formatNumber } from '@/lib/format';
import { GroupStateBadge } from './GroupStateBadge';
import { ResetOffsetsDialog } from './ResetOffsetsDialog';

export default function GroupPage() {
  const cluster = useCluster();
  const group = useParams().group ?? '';
  const details = useGroup(cluster, group);
  const deleteGroup = useDeleteGroup(cluster);
  const navigate = useNavigate();
  const [dialog, setDialog] = useState<'reset' | 'delete' | null>(null);
  const totalLag = details.data?.total_lag;

  return (
    <div className="space-y-6">
      <nav aria-label="Breadcrumb" className="text-sm text-muted-foreground">
        <Link to={paths.groups(cluster)} className="hover:text-foreground hover:underline">
          Consumer groups
        </Link>{' '}
        / <span className="text-foreground">{group}</span>
      </nav>
      <PageHeader
        title={<span className="font-mono">{group}</span>}
        badges={details.data ? <GroupStateBadge state={details.data.state} /> : null}
        description={
          details.data
            ? `${formatNumber(details.data.members.length)} members · total lag ${formatNumber(totalLag)}`
            : undefined
        }
        actions={
          <>
            <WriteButton
              variant="outline"
              onClick={() => setDialog('reset')}
              disabled={!details.data}
            >
              <RotateCcwIcon /> Reset offsets
            </WriteButton>
            <WriteButton variant="outline" onClick={() => setDialog('delete')}>
              <Trash2Icon /> Delete
            </WriteButton>
          </>
        }
      />
      <QueryView query={details}>
        {(data) => <GroupContent cluster={cluster} group={data} />}
      </QueryView>
      {details.data && dialog === 'reset' ? (
        <ResetOffsetsDialog
          cluster={cluster}
          group={details.data}
          onClose={() => setDialog(null)}
        />
      ) : null}
      <ConfirmDialog
        open={dialog === 'delete'}
        onOpenChange={(open) => setDialog(open ? 'delete' : null)}
        title="Delete consumer group"
        description={`Deletes ${group} and its committed offsets. Only an empty group (no members) can be deleted.`}
        confirmLabel="Delete group"
        typedConfirmation={group}
        pending={deleteGroup.isPending}
        onConfirm={() =>
          deleteGroup.mutate(group, {
            onSuccess: () => {
              toast.success(`Group ${group} deleted`);
              navigate(paths.groups(cluster));
            },
            onError: (error) =>
              toast.error('Could not delete the group', {
                description: describeError(error).detail,
              }),
          })
        }
      />
    </div>
  );
}

function GroupContent({ cluster, group }: { cluster: string; group: GroupDetails }) {
  const lagByPartition = useMemo(
    () =>
      [...group.offsets]
        .sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition)
        .map((offset) => ({
          label: `${offset.topic}-${offset.partition}`,
          value: offset.lag ?? 0,
        })),
    [group.offsets],
  );
  return (
    <>
      <Card>
        <CardHeader>
          <CardTitle>Members</CardTitle>
        </CardHeader>
        <CardContent>
          {group.members.length === 0 ? (
            <EmptyState title="No members" description="No consumer is in this group right now." />
          ) : (
            <Table>
              <TableHeader>
                <TableRow>
                  <TableHead>Member</TableHead>
                  <TableHead>Client</TableHead>
                  <TableHead>Host</TableHead>
                  <TableHead>Assignments</TableHead>
                </TableRow>
              </TableHeader>
              <TableBody>
                {group.members.map((member) => (
                  <TableRow key={member.member_id}>
                    <TableCell
                      className="max-w-xs truncate font-mono text-xs"
                      title={member.member_id}
                    >
                      {member.member_id}
                    </TableCell>
                    <TableCell>{member.client_id}</TableCell>
                    <TableCell className="font-mono text-xs">{member.client_host}</TableCell>
                    <TableCell className="whitespace-normal text-xs">
                      {member.assignments
                        .map(
                          (assignment) =>
                            `${assignment.topic} [${assignment.partitions.join(', ')}]`,
                        )
                        .join('; ') || '—'}
                    </TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          )}
        </CardContent>
      </Card>
      <Card>
        <CardHeader>
          <CardTitle>Lag per partition</CardTitle>
        </CardHeader>
        <CardContent className="space-y-4">
          {group.offsets.length === 0 ? (
            <EmptyState title="No committed offsets" />
          ) : (
            <>
              <LazyBarChart data={lagByPartition} formatValue={formatNumber} height={200} />
              <Table>
                <TableHeader>
                  <TableRow>
                    <TableHead>Topic</TableHead>
                    <TableHead className="text-right">Partition</TableHead>
                    <TableHead className="text-right">Committed</TableHead>
                    <TableHead className="text-right">End</TableHead>
                    <TableHead className="text-right">Lag</TableHead>
                    <TableHead>Metadata</TableHead>
                  </TableRow>
                </TableHeader>
                <TableBody>
                  {group.offsets.map((offset) => (
                    <TableRow key={`${offset.topic}-${offset.partition}`}>
                      <TableCell>
                        <Link
                          to={paths.topic(cluster, offset.topic)}
                          className="text-primary hover:underline"
                        >
                          {offset.topic}
                        </Link>
                      </TableCell>
                      <TableCell className="text-right tabular-nums">{offset.partition}</TableCell>
                      <TableCell className="text-right tabular-nums">
                        {formatNumber(offset.committed_offset)}
                      </TableCell>
                      <TableCell className="text-right tabular-nums">
                        {formatNumber(offset.end_offset)}
                      </TableCell>
                      <TableCell className="text-right tabular-nums">
                        {formatNumber(offset.lag)}
                      </TableCell>
                      <TableCell className="max-w-xs truncate text-xs text-muted-foreground">
                        {offset.metadata || '—'}
                      </TableCell>
                    </TableRow>
                  ))}
                </TableBody>
              </Table>
            </>
          )}
        </CardContent>
      </Card>
    </>
  );
}
