// Monaco's base worker (diffing, word ranges), bundled locally: no CDN.
import 'monaco-editor/editor/editor.worker';
