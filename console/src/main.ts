import { endSession, signedIn } from './api.js';
import { h, replace } from './dom.js';
import type { Page, PageContext } from './page.js';
import { pages } from './pages.js';
import { changes, type Change } from './stream.js';

const root = document.getElementById('page') as HTMLElement;
const nav = document.getElementById('nav') as HTMLElement;
const signOutButton = document.getElementById('sign-out') as HTMLButtonElement;
let leaving: (() => void)[] = [];

function route(): { page: Page; params: string[] } | undefined {
  const path = location.hash.replace(/^#/, '') || '/';
  for (const page of pages) {
    const match = page.path.exec(path);
    if (match !== null) return { page, params: match.slice(1).map((p) => decodeURIComponent(p)) };
  }
  return undefined;
}

async function show(): Promise<void> {
  for (const cleanup of leaving) cleanup();
  leaving = [];
  const found = route();
  const path = location.hash.replace(/^#/, '') || '/';
  for (const link of nav.querySelectorAll('a')) {
    const href = link.getAttribute('href')?.slice(1) ?? '';
    if (href === path || (href !== '/' && path.startsWith(href))) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (found === undefined) {
    document.title = 'Not found · Stroom';
    replace(root, h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/' }, 'Back to the fleet')));
    return;
  }
  document.title = `${found.page.title} · Stroom`;
  const ctx: PageContext = {
    root,
    params: found.params,
    onChange: (listener: (change: Change) => void) => leaving.push(changes.subscribe(listener)),
    onLeave: (cleanup) => leaving.push(cleanup),
  };
  replace(root);
  root.dataset.page = found.page.title;
  root.dataset.ready = 'false';
  await found.page.render(ctx);
  root.dataset.ready = 'true';
}

function start(): void {
  replace(nav, ...pages.filter((p) => p.nav !== undefined).map((p) => h('a', { href: p.nav?.href ?? '#/' }, p.nav?.label ?? p.title)));
  signOutButton.hidden = !signedIn();
  signOutButton.addEventListener('click', () => {
    void endSession().then(() => location.reload());
  });
  document.addEventListener('stroom:signed-in', () => (signOutButton.hidden = false));
  window.addEventListener('hashchange', () => void show());
  changes.start();
  void show();
}

start();
