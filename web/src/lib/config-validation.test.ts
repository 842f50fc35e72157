import { describe, expect, it } from 'vitest';
import { validateConfigValue } from './config-validation';

describe('validateConfigValue', () => {
  it('checks booleans and integer ranges', () => {
    expect(validateConfigValue('BOOLEAN', 'true')).toBeNull();
    expect(validateConfigValue('BOOLEAN', 'yes')).toMatch(/true or false/);
    expect(validateConfigValue('LONG', '604800000')).toBeNull();
    expect(validateConfigValue('INT', '2147483648')).toMatch(/between/);
    expect(validateConfigValue('INT', '1.5')).toMatch(/whole number/);
  });

  it('checks doubles and lists, and trusts the broker for other types', () => {
    expect(validateConfigValue('DOUBLE', '0.5')).toBeNull();
    expect(validateConfigValue('DOUBLE', 'half')).toMatch(/number/);
    expect(validateConfigValue('LIST', 'delete,compact')).toBeNull();
    expect(validateConfigValue('LIST', 'delete,,compact')).toMatch(/commas/);
    expect(validateConfigValue('STRING', 'anything')).toBeNull();
  });
});
