import { toast } from 'sonner';
import { useAlterTopicConfigs, useTopicConfigs } from '@/api/topics';
import { ConfigTable } from '@/components/config-table';
import { describeError, QueryView } from '@/components/states';
import { useCluster } from '@/lib/cluster';
import { useTopicName } from './TopicPage';

export default function ConfigurationTab() {
  const cluster = useCluster();
  const topic = useTopicName();
  const configs = useTopicConfigs(cluster, topic);
  const alter = useAlterTopicConfigs(cluster, topic);

  const run = (request: Parameters<typeof alter.mutateAsync>[0], done: string) =>
    alter.mutateAsync(request).then(
      () => toast.success(done),
      (error: unknown) => {
        toast.error('Config not changed', { description: describeError(error).detail });
        throw error;
      },
    );

  return (
    <QueryView query={configs}>
      {(entries) => (
        <ConfigTable
          entries={entries}
          editing={{
            pending: alter.isPending,
            onSet: (name, value) =>
              run({ set: { [name]: value }, delete: [] }, `${name} set to ${value}`),
            onReset: (name) => run({ set: {}, delete: [name] }, `${name} reset to its default`),
          }}
        />
      )}
    </QueryView>
  );
}
