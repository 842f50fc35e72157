import { lazy, Suspense } from 'react';
import { Skeleton } from '@/components/ui/skeleton';
import type { CodeEditorProps } from './CodeEditor';

const CodeEditor = lazy(() => import('./CodeEditor'));

export type { CodeEditorProps };

/** Monaco is large: it loads only when a page first shows an editor. */
export function LazyCodeEditor(props: CodeEditorProps) {
  return (
    <Suspense fallback={<Skeleton style={{ height: props.height ?? 160 }} className="w-full" />}>
      <CodeEditor {...props} />
    </Suspense>
  );
}
