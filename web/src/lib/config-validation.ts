import type { ConfigType } from '@/api/types';

const INTEGER = /^-?\d+$/;
const INT_RANGE: Partial<Record<string, [bigint, bigint]>> = {
  SHORT: [-32768n, 32767n],
  INT: [-2147483648n, 2147483647n],
  LONG: [-9223372036854775808n, 9223372036854775807n],
};

/**
 * Checks a config value against its Kafka type before it is sent, so the
 * common mistakes are caught in the form. The broker stays the authority: it
 * also validates ranges and enums this does not know.
 * Returns an error message, or null when the value looks valid.
 */
export function validateConfigValue(type: ConfigType, value: string): string | null {
  const trimmed = value.trim();
  switch (type) {
    case 'BOOLEAN':
      return trimmed === 'true' || trimmed === 'false' ? null : 'Must be true or false.';
    case 'SHORT':
    case 'INT':
    case 'LONG': {
      if (!INTEGER.test(trimmed)) return 'Must be a whole number.';
      const range = INT_RANGE[type];
      const number = BigInt(trimmed);
      if (range && (number < range[0] || number > range[1])) {
        return `Must be between ${range[0]} and ${range[1]}.`;
      }
      return null;
    }
    case 'DOUBLE':
      return trimmed !== '' && Number.isFinite(Number(trimmed)) ? null : 'Must be a number.';
    case 'LIST':
      return trimmed.split(',').some((item) => item.trim() === '' && trimmed !== '')
        ? 'List items are separated by single commas.'
        : null;
    default:
      return null;
  }
}
