/** Config presets offered by the create-topic dialog; the user can edit each value after picking. */
export interface TopicPreset {
  id: string;
  label: string;
  description: string;
  configs: Record<string, string>;
}

export const TOPIC_PRESETS: TopicPreset[] = [
  { id: 'default', label: 'Broker defaults', description: 'No overrides.', configs: {} },
  {
    id: 'compacted',
    label: 'Compacted (changelog)',
    description: 'Keeps the latest value per key.',
    configs: { 'cleanup.policy': 'compact', 'min.cleanable.dirty.ratio': '0.5' },
  },
  {
    id: 'short',
    label: 'Short retention (1 hour)',
    description: 'Scratch data and tests.',
    configs: { 'retention.ms': '3600000' },
  },
  {
    id: 'long',
    label: 'Long retention (30 days)',
    description: 'Audit and replay.',
    configs: { 'retention.ms': '2592000000' },
  },
];

const TOPIC_NAME = /^[a-zA-Z0-9._-]+$/;
/** Kafka's limit (249) leaves room for the partition suffix in directory names. */
const TOPIC_NAME_LENGTH_MAX = 249;

/** Kafka's topic-name rules, checked before the request. */
export function validateTopicName(name: string): string | null {
  if (name === '') return 'A name is required.';
  if (name === '.' || name === '..') return 'A topic cannot be named "." or "..".';
  if (name.length > TOPIC_NAME_LENGTH_MAX) return `At most ${TOPIC_NAME_LENGTH_MAX} characters.`;
  if (!TOPIC_NAME.test(name)) return 'Only letters, digits, ".", "_" and "-".';
  return null;
}
