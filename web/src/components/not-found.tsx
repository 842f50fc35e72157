import { CompassIcon } from 'lucide-react';
import { Link, useLocation } from 'react-router';
import { EmptyState } from '@/components/states';
import { Button } from '@/components/ui/button';

export function NotFoundPage() {
  const location = useLocation();
  return (
    <EmptyState
      icon={<CompassIcon />}
      title="Page not found"
      heading="h1"
      description={
        <>
          Nothing lives at <code className="font-mono">{location.pathname}</code>.
        </>
      }
      action={
        <Button asChild variant="outline">
          <Link to="/">Go to the overview</Link>
        </Button>
      }
    />
  );
}
