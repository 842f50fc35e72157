/** Shown under the filter editor; each is a function body returning true to keep a message. */
export const FILTER_EXAMPLES: { label: string; source: string }[] = [
  { label: 'Value field equals', source: "return value?.status === 'FAILED';" },
  {
    label: 'Key starts with',
    source: "return typeof key === 'string' && key.startsWith('user-');",
  },
  { label: 'Has header', source: "return 'trace-id' in headers;" },
  { label: 'Text contains', source: "return JSON.stringify(value).includes('timeout');" },
  { label: 'Last hour', source: 'return timestamp > Date.now() - 3600 * 1000;' },
];
