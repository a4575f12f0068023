// The REST client: JSON in and out, the session cookie (set by the sign-in
// link `paddock serve` prints, by signing in with a name and password, a
// token or single sign-on: HttpOnly, so no script here ever holds a
// credential), the CSRF header every state-changing request carries, and
// errors of the API's one shape (`{"error": {code, message}}`).

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

/** The header that proves a state-changing request comes from this page (contracts: `X-Paddock-CSRF`). */
export const CSRF_HEADER = 'X-Paddock-CSRF';

/**
 * The CSRF cookie's value: the server sets `paddock_csrf_<port>` (readable by
 * scripts, SameSite=Strict) with the session cookie; a page of another site
 * cannot read it, so it cannot send it back in the header. The port is the
 * one Paddock listens on: this page's, or — behind a proxy that changes it —
 * the only such cookie there is.
 */
export function csrfToken(
  cookies: string = typeof document === 'undefined' ? '' : document.cookie,
  port: string = typeof location === 'undefined' ? '' : location.port,
): string | null {
  const found: [string, string][] = [];
  for (const part of cookies.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (name.startsWith('paddock_csrf_') || name === 'paddock_csrf') found.push([name, decodeURIComponent(part.slice(eq + 1).trim())]);
  }
  const mine = found.find(([name]) => name === `paddock_csrf_${port}`);
  if (mine) return mine[1];
  return found.length === 1 ? found[0][1] : null;
}

/** Whether a request of this method changes something (and so carries the CSRF header). */
export function changes(method: string): boolean {
  return !['GET', 'HEAD', 'OPTIONS'].includes(method.toUpperCase());
}

/** A request body sent as text of its own type (a workflow's YAML), not as JSON. */
export class TextBody {
  readonly contentType: string;
  readonly text: string;
  constructor(contentType: string, text: string) {
    this.contentType = contentType;
    this.text = text;
  }
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  // A header no cross-site form can send: the server refuses state changes
  // without it (or a JSON body).
  const headers: Record<string, string> = { 'X-Paddock-Request': '1' };
  // And the CSRF cookie's value, which no other site can read.
  const csrf = changes(method) ? csrfToken() : null;
  if (csrf) headers[CSRF_HEADER] = csrf;
  let payload: BodyInit | undefined;
  if (body instanceof FormData) {
    payload = body;
  } else if (body instanceof TextBody) {
    headers['Content-Type'] = body.contentType;
    payload = body.text;
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
export const patch = <T>(path: string, body?: unknown) => api<T>('PATCH', path, body);
export const del = <T>(path: string) => api<T>('DELETE', path);

/** The WebSocket URL (the browser sends the session cookie with the upgrade). */
export function wsUrl(): string {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}/api/ws`;
}

/** Signs this browser in with a token (the session cookie is set by the server). */
export const signIn = (token: string) => post<{ role: string }>('/api/session', { token });

/** Signs this browser in with a name and password (a local account). */
export const signInWithPassword = (name: string, password: string) => post<{ role: string }>('/api/session', { name, password });

/** Signs this browser out. */
export const signOut = () => del<void>('/api/session');
