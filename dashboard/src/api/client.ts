// The REST client: JSON in and out, the session cookie (set by the sign-in
// link `paddock serve` prints, or by signing in with a token: HttpOnly, so
// no script here ever holds a credential), and errors of the API's one
// shape (`{"error": {code, message}}`).

/** An error the API returned (or a network failure, status 0). */
export class ApiError extends Error {
  status: number;
  code: string;
  /** The whole JSON body, for errors that say more than `error` (a merge's conflicts). */
  body: unknown;
  constructor(status: number, code: string, message: string, body?: unknown) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  // A header no cross-site form can send: the server refuses state changes
  // without it (or a JSON body).
  const headers: Record<string, string> = { 'X-Paddock-Request': '1' };
  let payload: BodyInit | undefined;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let resp: Response;
  try {
    resp = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
  } catch (e) {
    throw new ApiError(0, 'unreachable', `Paddock is not reachable (${String(e)})`);
  }
  if (resp.status === 204) return undefined as T;
  const text = await resp.text();
  let json: unknown = undefined;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    // Not JSON: reported below.
  }
  if (!resp.ok) {
    const err = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new ApiError(resp.status, err?.code ?? 'http_error', err?.message ?? `${resp.status} ${resp.statusText}`, json);
  }
  return json as T;
}

export const get = <T>(path: string) => api<T>('GET', path);
export const post = <T>(path: string, body?: unknown) => api<T>('POST', path, body);
export const put = <T>(path: string, body?: unknown) => api<T>('PUT', path, body);
export const del = <T>(path: string) => api<T>('DELETE', path);

/** The WebSocket URL (the browser sends the session cookie with the upgrade). */
export function wsUrl(): string {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}/api/ws`;
}

/** Signs this browser in with a token (the session cookie is set by the server). */
export const signIn = (token: string) => post<{ role: string }>('/api/session', { token });

/** Signs this browser out. */
export const signOut = () => del<void>('/api/session');
