import {
  ChevronDownIcon,
  EraserIcon,
  Layers2Icon,
  ScissorsIcon,
  SendIcon,
  Trash2Icon,
} from 'lucide-react';
import { lazy, Suspense, useRef, useState } from 'react';
import { Link, Outlet, useNavigate, useParams } from 'react-router';
import { toast } from 'sonner';
import { useReadOnly } from '@/api/auth';
import { useDeleteTopic, useEmptyTopic, useTopic } from '@/api/topics';
import { ConfirmDialog } from '@/components/confirm-dialog';
import { PageHeader } from '@/components/page-header';
import { describeError } from '@/components/states';
import { Badge } from '@/components/ui/badge';
import { Button } from '@/components/ui/button';
import {
  DropdownMenu,
  DropdownMenuContent,
  DropdownMenuItem,
  DropdownMenuSeparator,
  DropdownMenuTrigger,
} from '@/components/ui/dropdown-menu';
import { TabLinks } from '@/components/ui/tab-links';
import { WriteButton } from '@/components/write-action';
import { paths, useCluster } from '@/lib/cluster';
import { formatBytes, formatNumber } from '@/lib/format';
import { AddPartitionsDialog } from './AddPartitionsDialog';
import { DeleteRecordsDialog } from './DeleteRecordsDialog';

const ProduceDialog = lazy(() => import('@/features/messages/ProduceDialog'));

export function useTopicName(): string {
  const { topic } = useParams();
  if (topic === undefined) throw new Error('useTopicName used outside /topics/:topic');
  return topic;
}

type OpenDialog = 'produce' | 'partitions' | 'records' | 'empty' | 'delete' | null;

export default function TopicPage() {
  const cluster = useCluster();
  const topic = useTopicName();
  const navigate = useNavigate();
  const details = useTopic(cluster, topic);
  const deleteTopic = useDeleteTopic(cluster);
  const emptyTopic = useEmptyTopic(cluster, topic);
  const readOnly = useReadOnly();
  const [dialog, setDialog] = useState<OpenDialog>(null);
  const close = () => setDialog(null);
  // A dialog chosen in the Actions menu opens once the menu has closed and
  // given focus back to its trigger: closing the dialog then returns there.
  const chosenInMenu = useRef<OpenDialog>(null);
  const openChosenDialog = () => {
    if (chosenInMenu.current === null) return;
    setDialog(chosenInMenu.current);
    chosenInMenu.current = null;
  };
  const choose = (next: OpenDialog) => () => {
    chosenInMenu.current = next;
  };

  const partitions = details.data?.partitions ?? [];

  return (
    <div className="space-y-6">
      <nav aria-label="Breadcrumb" className="text-sm text-muted-foreground">
        <Link to={paths.topics(cluster)} className="hover:text-foreground hover:underline">
          Topics
        </Link>{' '}
        / <span className="text-foreground">{topic}</span>
      </nav>
      <PageHeader
        title={<span className="font-mono">{topic}</span>}
        badges={details.data?.internal ? <Badge variant="secondary">internal</Badge> : null}
        description={
          details.data
            ? `${formatNumber(details.data.partition_count)} partitions × ${details.data.replication_factor} replicas · ~${formatNumber(details.data.message_count)} messages · ${formatBytes(details.data.size_bytes)}${details.data.cleanup_policy ? ` · ${details.data.cleanup_policy}` : ''}`
            : undefined
        }
        actions={
          <>
            <WriteButton onClick={() => setDialog('produce')}>
              <SendIcon /> Produce
            </WriteButton>
            {/* Every action of the menu changes the topic: a read-only role gets the
                disabled trigger and its reason instead of a menu of disabled items. */}
            {readOnly ? (
              <WriteButton variant="outline">
                Actions <ChevronDownIcon />
              </WriteButton>
            ) : (
              <DropdownMenu>
                <DropdownMenuTrigger asChild>
                  <Button variant="outline">
                    Actions <ChevronDownIcon />
                  </Button>
                </DropdownMenuTrigger>
                <DropdownMenuContent align="end" onCloseAutoFocus={openChosenDialog}>
                  <DropdownMenuItem onSelect={choose('partitions')}>
                    <Layers2Icon /> Add partitions
                  </DropdownMenuItem>
                  <DropdownMenuItem onSelect={choose('records')}>
                    <ScissorsIcon /> Delete records
                  </DropdownMenuItem>
                  <DropdownMenuItem onSelect={choose('empty')}>
                    <EraserIcon /> Empty topic
                  </DropdownMenuItem>
                  <DropdownMenuSeparator />
                  <DropdownMenuItem
                    className="text-destructive focus:text-destructive"
                    onSelect={choose('delete')}
                  >
                    <Trash2Icon /> Delete topic
                  </DropdownMenuItem>
                </DropdownMenuContent>
              </DropdownMenu>
            )}
          </>
        }
      />
      <TabLinks
        label="Topic sections"
        tabs={[
          { to: paths.topic(cluster, topic, 'messages'), label: 'Messages' },
          { to: paths.topic(cluster, topic, 'partitions'), label: 'Partitions' },
          { to: paths.topic(cluster, topic, 'configuration'), label: 'Configuration' },
          { to: paths.topic(cluster, topic, 'consumers'), label: 'Consumers' },
        ]}
      />
      <Outlet />

      {dialog === 'produce' ? (
        <Suspense fallback={null}>
          <ProduceDialog
            cluster={cluster}
            topic={topic}
            partitions={partitions.length}
            onClose={close}
          />
        </Suspense>
      ) : null}
      <AddPartitionsDialog
        cluster={cluster}
        topic={topic}
        current={partitions.length}
        open={dialog === 'partitions'}
        onOpenChange={(open) => setDialog(open ? 'partitions' : null)}
      />
      <DeleteRecordsDialog
        cluster={cluster}
        topic={topic}
        partitions={partitions}
        open={dialog === 'records'}
        onOpenChange={(open) => setDialog(open ? 'records' : null)}
      />
      <ConfirmDialog
        open={dialog === 'empty'}
        onOpenChange={(open) => setDialog(open ? 'empty' : null)}
        title="Empty topic"
        description={`Deletes every record of ${topic} in all partitions. Consumers continue from the new start.`}
        confirmLabel="Empty topic"
        typedConfirmation={topic}
        pending={emptyTopic.isPending}
        onConfirm={() =>
          emptyTopic.mutate(undefined, {
            onSuccess: () => {
              toast.success(`${topic} emptied`);
              close();
            },
            onError: (error) =>
              toast.error('Could not empty the topic', {
                description: describeError(error).detail,
              }),
          })
        }
      />
      <ConfirmDialog
        open={dialog === 'delete'}
        onOpenChange={(open) => setDialog(open ? 'delete' : null)}
        title="Delete topic"
        description={`Deletes ${topic} and all its data. This cannot be undone.`}
        confirmLabel="Delete topic"
        typedConfirmation={topic}
        pending={deleteTopic.isPending}
        onConfirm={() =>
          deleteTopic.mutate(topic, {
            onSuccess: () => {
              toast.success(`Topic ${topic} deleted`);
              close();
              navigate(paths.topics(cluster));
            },
            onError: (error) =>
              toast.error('Could not delete the topic', {
                description: describeError(error).detail,
              }),
          })
        }
      />
    </div>
  );
}
