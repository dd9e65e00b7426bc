import { askForToken, authHeaders, signOut } from './api.js';

/** One change of `GET /api/v1/stream`. */
export interface Change {
  id: string;
  kind: string;
  data: { stationId: string; at: string; [key: string]: unknown };
}

type Listener = (change: Change) => void;

/**
 * The console's one connection to the change stream, read with fetch so the token travels in the Authorization
 * header (EventSource cannot send one). It reconnects with Last-Event-ID, so nothing is lost across a drop; a
 * `reset` (too long away) tells every page to reload what it shows.
 */
export class ChangeStream {
  private readonly listeners = new Set<Listener>();
  private lastEventId: string | undefined;
  private controller: AbortController | undefined;
  private running = false;
  /** Read by the tests: true once the stream answered 200. */
  connected = false;

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.run();
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        await this.readOnce();
      } catch {
        /* dropped or refused: wait, then resume from the last id */
      }
      this.connected = false;
      document.documentElement.dataset.stream = 'down';
      await new Promise((resolve) => setTimeout(resolve, 1500));
    }
  }

  private async readOnce(): Promise<void> {
    this.controller = new AbortController();
    const headers: Record<string, string> = { ...authHeaders(), Accept: 'text/event-stream' };
    if (this.lastEventId !== undefined) headers['Last-Event-ID'] = this.lastEventId;
    const res = await fetch('/api/v1/stream', { headers, signal: this.controller.signal });
    if (res.status === 401) {
      signOut();
      await askForToken();
      return;
    }
    if (res.status !== 200 || res.body === null) return;
    this.connected = true;
    document.documentElement.dataset.stream = 'up';
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        this.parse(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  }

  private parse(block: string): void {
    let id: string | undefined;
    let kind = 'message';
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('id: ')) id = line.slice(4);
      else if (line.startsWith('event: ')) kind = line.slice(7);
      else if (line.startsWith('data: ')) data += line.slice(6);
    }
    if (id !== undefined) this.lastEventId = id;
    if (data === '') return;
    const change: Change = { id: id ?? '', kind, data: JSON.parse(data) as Change['data'] };
    for (const listener of [...this.listeners]) listener(change);
  }
}

export const changes = new ChangeStream();
