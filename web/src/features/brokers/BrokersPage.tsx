import { useBrokers } from '@/api/clusters';
import { PageHeader } from '@/components/page-header';
import { QueryView } from '@/components/states';
import { useCluster } from '@/lib/cluster';
import { BrokersTable } from './BrokersTable';

export default function BrokersPage() {
  const cluster = useCluster();
  const brokers = useBrokers(cluster);
  return (
    <div className="space-y-6">
      <PageHeader title="Brokers" description="Nodes of the cluster and their log directories." />
      <QueryView query={brokers}>
        {(data) => <BrokersTable cluster={cluster} brokers={data} />}
      </QueryView>
    </div>
  );
}
