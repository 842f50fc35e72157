import { describe, expect, it } from 'vitest';
import { validateTopicName } from './topic-presets';

describe('validateTopicName', () => {
  it('accepts Kafka-legal names', () => {
    expect(validateTopicName('orders.v1_eu-west')).toBeNull();
  });

  it('rejects what the broker would', () => {
    expect(validateTopicName('')).toMatch(/required/);
    expect(validateTopicName('..')).toMatch(/cannot/);
    expect(validateTopicName('a b')).toMatch(/Only/);
    expect(validateTopicName('x'.repeat(250))).toMatch(/249/);
  });
});
