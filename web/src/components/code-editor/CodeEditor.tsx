import Editor, { type OnMount } from '@monaco-editor/react';
import { useEffect, useRef, useState } from 'react';
import { Skeleton } from '@/components/ui/skeleton';
import { useTheme } from '@/lib/theme';
import { type FilterDiagnostic, markerRange } from './filter-diagnostics';
import { checkFilterSyntax } from './filter-syntax';
import { monaco } from './monaco-setup';

export interface CodeEditorProps {
  value: string;
  onChange: (value: string) => void;
  language: 'javascript' | 'json';
  height?: number | string;
  readOnly?: boolean;
  /** For screen readers; Monaco's textarea gets it. */
  ariaLabel: string;
  /** Ctrl/Cmd+Enter, e.g. to run a search from the filter editor. */
  onSubmit?: () => void;
  /** Messages from elsewhere (the server's verdict on the filter), drawn as markers. */
  diagnostics?: FilterDiagnostic[];
}

/** Markers of the local syntax check; the server's have their own owner so neither clears the other. */
const MARKER_OWNER = 'takhin-filter';
const SERVER_MARKER_OWNER = 'takhin-server';
const FILTER_GLOBALS = [
  { name: 'key', detail: 'the key: parsed JSON when it is JSON, else a string (null for no key)' },
  {
    name: 'value',
    detail: 'the value: parsed JSON when it is JSON, else a string (null for a tombstone)',
  },
  { name: 'headers', detail: 'object of header name to string value' },
  { name: 'partition', detail: 'number' },
  { name: 'offset', detail: 'number' },
  { name: 'timestamp', detail: 'number, epoch milliseconds' },
];

let completionsRegistered = false;
function registerFilterCompletions() {
  if (completionsRegistered) return;
  completionsRegistered = true;
  monaco.languages.registerCompletionItemProvider('javascript', {
    provideCompletionItems(model, position) {
      const word = model.getWordUntilPosition(position);
      const range = new monaco.Range(
        position.lineNumber,
        word.startColumn,
        position.lineNumber,
        word.endColumn,
      );
      return {
        suggestions: FILTER_GLOBALS.map((global) => ({
          label: global.name,
          kind: monaco.languages.CompletionItemKind.Variable,
          insertText: global.name,
          detail: global.detail,
          range,
        })),
      };
    },
  });
}

/** Monaco with the console's theme, inline JavaScript syntax errors and filter completions. */
export default function CodeEditor({
  value,
  onChange,
  language,
  height = 160,
  readOnly = false,
  ariaLabel,
  onSubmit,
  diagnostics,
}: CodeEditorProps) {
  const { resolved } = useTheme();
  const editorRef = useRef<Parameters<OnMount>[0] | null>(null);
  // Monaco mounts asynchronously: markers for the initial value wait for it.
  const [mounted, setMounted] = useState(false);
  const submitRef = useRef(onSubmit);
  submitRef.current = onSubmit;
  // The parent's `value` can lag behind typing (URL state updates in a transition). Values
  // this editor reported and the parent has not passed back yet are echoes, not edits:
  // writing one back would drop what was typed since. Any other value (an example button,
  // a reset) replaces the text, as an undoable edit.
  const reported = useRef<string[]>([]);
  const writing = useRef(false);

  useEffect(() => {
    const editor = editorRef.current;
    const model = editor?.getModel();
    if (!mounted || !editor || !model) return;
    const echo = reported.current.indexOf(value);
    if (echo >= 0) {
      reported.current.splice(0, echo + 1);
      return;
    }
    reported.current = [];
    if (value === model.getValue()) return;
    writing.current = true;
    if (readOnly) {
      model.setValue(value);
    } else {
      editor.executeEdits('', [{ range: model.getFullModelRange(), text: value }]);
      editor.pushUndoStop();
    }
    writing.current = false;
  }, [value, mounted, readOnly]);

  useEffect(() => {
    const model = editorRef.current?.getModel();
    if (!mounted || !model || language !== 'javascript') return;
    const problem = checkFilterSyntax(value);
    monaco.editor.setModelMarkers(
      model,
      MARKER_OWNER,
      problem
        ? [
            {
              severity: monaco.MarkerSeverity.Error,
              message: problem.message,
              ...markerRange(model, problem.line, problem.column),
            },
          ]
        : [],
    );
  }, [value, language, mounted]);

  useEffect(() => {
    const model = editorRef.current?.getModel();
    if (!mounted || !model) return;
    monaco.editor.setModelMarkers(
      model,
      SERVER_MARKER_OWNER,
      (diagnostics ?? []).flatMap((diagnostic) =>
        diagnostic.line === null
          ? []
          : [
              {
                severity:
                  diagnostic.severity === 'error'
                    ? monaco.MarkerSeverity.Error
                    : monaco.MarkerSeverity.Warning,
                message: diagnostic.message,
                ...markerRange(model, diagnostic.line, diagnostic.column),
              },
            ],
      ),
    );
  }, [diagnostics, mounted]);

  const onMount: OnMount = (editor) => {
    editorRef.current = editor;
    if (language === 'javascript') registerFilterCompletions();
    editor.addCommand(monaco.KeyMod.CtrlCmd | monaco.KeyCode.Enter, () => submitRef.current?.());
    setMounted(true);
  };

  return (
    <div className="overflow-hidden rounded-md border">
      <Editor
        height={height}
        language={language}
        defaultValue={value}
        theme={resolved === 'dark' ? 'vs-dark' : 'vs'}
        onChange={(next) => {
          if (writing.current) return;
          const text = next ?? '';
          reported.current.push(text);
          onChange(text);
        }}
        onMount={onMount}
        loading={<Skeleton className="h-full w-full" />}
        options={{
          ariaLabel,
          readOnly,
          minimap: { enabled: false },
          fontSize: 13,
          lineNumbers: 'on',
          scrollBeyondLastLine: false,
          automaticLayout: true,
          tabSize: 2,
          wordWrap: 'on',
          // Tab moves focus out instead of indenting, so keyboard users are not trapped.
          tabFocusMode: true,
        }}
      />
    </div>
  );
}
