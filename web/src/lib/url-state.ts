import { useCallback, useMemo } from 'react';
import { useSearchParams } from 'react-router';

type UrlValue = string | number | boolean;

/**
 * Page state kept in the query string so every filter, sort and page is a
 * deep link. `defaults` fixes each key's type; values equal to their default
 * are left out of the URL to keep links short.
 */
export function useUrlState<T extends Record<string, UrlValue>>(
  defaults: T,
): [T, (patch: Partial<T>, options?: { replace?: boolean }) => void] {
  const [params, setParams] = useSearchParams();

  const state = useMemo(() => parseUrlState(params, defaults), [params, defaults]);

  const update = useCallback(
    (patch: Partial<T>, options?: { replace?: boolean }) => {
      setParams(
        (current) => {
          const next = new URLSearchParams(current);
          for (const [key, value] of Object.entries(patch)) {
            if (value === undefined || value === defaults[key] || value === '') next.delete(key);
            else next.set(key, String(value));
          }
          return next;
        },
        { replace: options?.replace ?? false },
      );
    },
    [setParams, defaults],
  );

  return [state, update];
}

export function parseUrlState<T extends Record<string, UrlValue>>(
  params: URLSearchParams,
  defaults: T,
): T {
  const result: Record<string, UrlValue> = { ...defaults };
  for (const [key, fallback] of Object.entries(defaults)) {
    const raw = params.get(key);
    if (raw === null) continue;
    if (typeof fallback === 'number') {
      const parsed = Number(raw);
      result[key] = Number.isFinite(parsed) ? parsed : fallback;
    } else if (typeof fallback === 'boolean') {
      result[key] = raw === 'true' || raw === '1';
    } else {
      result[key] = raw;
    }
  }
  return result as T;
}
