import type { Change } from './stream.js';

/** What a page gets when it is shown. */
export interface PageContext {
  root: HTMLElement;
  /** The capture groups of the page's path pattern, URI-decoded. */
  params: string[];
  /** Follows the change stream while the page is shown. */
  onChange(listener: (change: Change) => void): void;
  /** Runs when the page is left (timers, observers). */
  onLeave(cleanup: () => void): void;
}

/**
 * One page of the console. Adding a page is a module that exports one of these and a line in pages.ts: its
 * path (the part of the URL after `#`), its title, and where it appears in the navigation.
 */
export interface Page {
  path: RegExp;
  title: string;
  /** Shown in the top navigation when set. */
  nav?: { label: string; href: string };
  render(ctx: PageContext): void | Promise<void>;
}
