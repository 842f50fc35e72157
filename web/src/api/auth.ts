import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { apiRequest, isApiError } from './http';
import type { LoginRequest, LoginResponse, Me } from './types';

export const authKeys = {
  all: ['auth'] as const,
  me: () => [...authKeys.all, 'me'] as const,
};

/**
 * Who is signed in. 401 means auth is on and nobody is; 404 means the server
 * has no auth endpoints (auth off, or an older backend) and is treated as an
 * anonymous admin so the console stays usable.
 */
export function useMe() {
  return useQuery({
    queryKey: authKeys.me(),
    queryFn: async ({ signal }): Promise<Me> => {
      try {
        return await apiRequest<Me>('/auth/me', { signal });
      } catch (error) {
        if (isApiError(error) && error.status === 404) {
          return { username: 'anonymous', role: 'admin', auth_enabled: false, method: 'none' };
        }
        throw error;
      }
    },
    staleTime: 60_000,
  });
}

/**
 * Whether the caller has the read-only role, so the UI can disable what
 * changes things. Until `me` answers (or when it fails) this is false: the
 * server enforces the role on every call anyway (403), and most users are
 * admins, who should not see their buttons flicker.
 */
export function useReadOnly(): boolean {
  const me = useMe();
  return me.data?.role === 'read-only';
}

export function useLogin() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (request: LoginRequest) =>
      apiRequest<LoginResponse>('/auth/login', { method: 'POST', body: request }),
    // Everything fetched while signed out may have failed with 401, `me` included.
    onSuccess: () => queryClient.invalidateQueries(),
  });
}

export function useLogout() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => apiRequest<void>('/auth/logout', { method: 'POST' }),
    onSuccess: () => {
      queryClient.clear();
    },
  });
}
