/**
 * The console speaks only the public REST API. The token (when CSMS_API_TOKEN is set) is asked for when the API
 * answers 401 and kept in this tab's sessionStorage: never in localStorage, never in a URL (CONTRACT §4 "Console").
 */
const TOKEN_KEY = 'stroom.apiToken';

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
  return token() !== null;
}

export function signOut(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** Shows the token dialog (once, however many requests were refused) and resolves when a token was entered. */
export function askForToken(message = ''): Promise<void> {
  askingForToken ??= new Promise<void>((resolve) => {
    const dialog = document.getElementById('login') as HTMLDialogElement;
    const form = document.getElementById('login-form') as HTMLFormElement;
    const input = document.getElementById('login-token') as HTMLInputElement;
    (document.getElementById('login-error') as HTMLElement).textContent = message;
    const submitted = (event: Event): void => {
      event.preventDefault();
      if (input.value === '') return;
      sessionStorage.setItem(TOKEN_KEY, input.value);
      input.value = '';
      form.removeEventListener('submit', submitted);
      dialog.close();
      askingForToken = undefined;
      document.dispatchEvent(new CustomEvent('stroom:signed-in'));
      resolve();
    };
    form.addEventListener('submit', submitted);
    // Escape would close the dialog with nothing entered: the console cannot work without the token.
    dialog.addEventListener('cancel', (event) => event.preventDefault());
    if (!dialog.open) dialog.showModal();
    input.focus();
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
      if (token() !== null) signOut();
      await askForToken(attempt === 0 && !signedIn() ? '' : 'That token was refused.');
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
      signOut();
      await askForToken('That token was refused.');
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
