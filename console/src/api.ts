/**
 * The console speaks only the public REST API. When the API answers 401 it asks the user to sign in: with an
 * operator account (POST /api/v1/session sets an HttpOnly session cookie the browser sends from then on) or with a
 * token (CSMS_API_TOKEN or an API key), kept in this tab's sessionStorage: never in localStorage, never in a URL
 * (CONTRACT §4 "Console", §8.7).
 */
const TOKEN_KEY = 'stroom.apiToken';
/** Set while this tab signed in with an account: the session itself is an HttpOnly cookie this page never sees. */
const SESSION_KEY = 'stroom.session';

export interface ApiResult<T = unknown> {
  status: number;
  ok: boolean;
  body: T;
  text: string;
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

let askingForToken: Promise<void> | undefined;

function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function authHeaders(): Record<string, string> {
  const value = token();
  return value === null ? {} : { Authorization: `Bearer ${value}` };
}

export function signedIn(): boolean {
  return token() !== null || sessionStorage.getItem(SESSION_KEY) !== null;
}

/** Forgets the token and the account marker (the session cookie is ended by `endSession`). */
export function signOut(): void {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(SESSION_KEY);
}

/** Signs out for good: the API ends the session and clears its cookie. */
export async function endSession(): Promise<void> {
  const signedInWithAccount = sessionStorage.getItem(SESSION_KEY) !== null;
  signOut();
  if (signedInWithAccount) await fetch('/api/v1/session', { method: 'DELETE' }).catch(() => undefined);
}

/** What went wrong with the last sign-in, for the dialog. */
function refusal(): string {
  if (token() !== null) return 'That token was refused.';
  if (sessionStorage.getItem(SESSION_KEY) !== null) return 'Your session has ended: sign in again.';
  return '';
}

/**
 * Shows the sign-in dialog (once, however many requests were refused) and resolves once the user signed in with
 * an account (the API set its session cookie) or entered a token.
 */
export function askForToken(message = ''): Promise<void> {
  askingForToken ??= new Promise<void>((resolve) => {
    const dialog = document.getElementById('login') as HTMLDialogElement;
    const form = document.getElementById('login-form') as HTMLFormElement;
    const input = document.getElementById('login-token') as HTMLInputElement;
    const accountForm = document.getElementById('login-account-form') as HTMLFormElement;
    const username = document.getElementById('login-username') as HTMLInputElement;
    const password = document.getElementById('login-password') as HTMLInputElement;
    const error = document.getElementById('login-error') as HTMLElement;
    error.textContent = message;
    const done = (): void => {
      form.removeEventListener('submit', submitted);
      accountForm.removeEventListener('submit', accountSubmitted);
      dialog.close();
      askingForToken = undefined;
      document.dispatchEvent(new CustomEvent('stroom:signed-in'));
      resolve();
    };
    const submitted = (event: Event): void => {
      event.preventDefault();
      if (input.value === '') return;
      sessionStorage.setItem(TOKEN_KEY, input.value);
      input.value = '';
      done();
    };
    const accountSubmitted = (event: Event): void => {
      event.preventDefault();
      if (username.value === '' || password.value === '') return;
      void (async () => {
        const res = await fetch('/api/v1/session', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ username: username.value, password: password.value }),
        });
        password.value = '';
        if (res.ok) {
          sessionStorage.removeItem(TOKEN_KEY);
          sessionStorage.setItem(SESSION_KEY, username.value);
          done();
          return;
        }
        const retry = res.headers.get('Retry-After');
        error.textContent = res.status === 429 ? `Too many failed sign-ins: try again in ${retry ?? 'a few'} s.` : 'That username and password were refused.';
      })();
    };
    form.addEventListener('submit', submitted);
    accountForm.addEventListener('submit', accountSubmitted);
    // Escape would close the dialog with nothing entered: the console cannot work without signing in.
    dialog.addEventListener('cancel', (event) => event.preventDefault());
    if (!dialog.open) dialog.showModal();
    username.focus();
  });
  return askingForToken;
}

/** One request; a 401 asks for the token and tries again with it. */
export async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<ApiResult<T>> {
  for (let attempt = 0; ; attempt++) {
    const headers: Record<string, string> = { ...authHeaders() };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(path, { method, headers, body: body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body) });
    const text = await res.text();
    if (res.status === 401) {
      const message = refusal();
      signOut();
      await askForToken(attempt === 0 && message === '' ? '' : message || 'Sign in again.');
      continue;
    }
    let parsed: unknown = text;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      /* not JSON: keep the text */
    }
    return { status: res.status, ok: res.ok, body: parsed as T, text };
  }
}

export const get = <T>(path: string): Promise<ApiResult<T>> => api<T>('GET', path);

export function stationPath(id: string): string {
  return `/api/v1/stations/${encodeURIComponent(id)}`;
}

/** Downloads an API file (CSV) with the token in the header: a plain link could not carry it. */
export async function download(path: string, filename: string): Promise<void> {
  for (;;) {
    const res = await fetch(path, { headers: authHeaders() });
    if (res.status === 401) {
      const message = refusal();
      signOut();
      await askForToken(message || 'Sign in again.');
      continue;
    }
    const blob = await res.blob();
    const url = URL.createObjectURL(blob);
    const link = document.createElement('a');
    link.href = url;
    link.download = filename;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    return;
  }
}
