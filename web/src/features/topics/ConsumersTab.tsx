import { Link } from 'react-router';
import { useTopicConsumers } from '@/api/topics';
import { EmptyState, QueryView } from '@/components/states';
import {
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableHeader,
  TableRow,
} from '@/components/ui/table';
import { GroupStateBadge } from '@/features/groups/GroupStateBadge';
import { paths, useCluster } from '@/lib/cluster';
import { formatNumber } from '@/lib/format';
import { useTopicName } from './TopicPage';

export default function ConsumersTab() {
  const cluster = useCluster();
  const topic = useTopicName();
  const consumers = useTopicConsumers(cluster, topic);
  return (
    <QueryView query={consumers}>
      {(groups) =>
        groups.length === 0 ? (
          <EmptyState
            title="No consumer groups"
            description={`No group has committed offsets for ${topic}.`}
          />
        ) : (
          <Table>
            <TableHeader>
              <TableRow>
                <TableHead>Group</TableHead>
                <TableHead>State</TableHead>
                <TableHead className="text-right">Members</TableHead>
                <TableHead className="text-right">Lag</TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {groups.map((group) => (
                <TableRow key={group.group_id}>
                  <TableCell>
                    <Link
                      to={paths.group(cluster, group.group_id)}
                      className="font-medium text-primary hover:underline"
                    >
                      {group.group_id}
                    </Link>
                  </TableCell>
                  <TableCell>
                    <GroupStateBadge state={group.state} />
                  </TableCell>
                  <TableCell className="text-right tabular-nums">
                    {formatNumber(group.members)}
                  </TableCell>
                  <TableCell className="text-right tabular-nums">
                    {formatNumber(group.lag)}
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        )
      }
    </QueryView>
  );
}
