/**
 * Monaco, bundled from the local `monaco-editor` package (the console must
 * work offline, so never from a CDN), with only what the console needs: the
 * editor, JavaScript highlighting (the message filter) and the JSON
 * language service. JavaScript syntax errors come from acorn (see
 * `filter-syntax.ts`) rather than Monaco's 12 MB TypeScript worker.
 *
 * Imported only by `CodeEditor`, which is itself lazy-loaded.
 */
import { loader } from '@monaco-editor/react';
import * as monaco from 'monaco-editor/editor/editor.api';
import 'monaco-editor/languages/definitions/javascript/register';
import 'monaco-editor/language/json/monaco.contribution';

self.MonacoEnvironment = {
  getWorker(_workerId: string, label: string) {
    if (label === 'json') {
      return new Worker(new URL('./json.worker.ts', import.meta.url), { type: 'module' });
    }
    return new Worker(new URL('./editor.worker.ts', import.meta.url), { type: 'module' });
  },
};

loader.config({ monaco });

export { monaco };
