// Monaco's JSON language worker (validation, folding, formatting), bundled locally.
import 'monaco-editor/language/json/json.worker';
