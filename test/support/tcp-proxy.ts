/**
 * A TCP proxy in the test process between the CSMS and a real server (PostgreSQL), to make that server look
 * blackholed (connections stay open, nothing is forwarded either way: a stalled server or a dead network path) or
 * unreachable (connections reset, new ones refused), and then come back.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

type Mode = 'forward' | 'blackhole';

export class TcpProxy {
  #mode: Mode = 'forward';
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();

  private constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const probe = createServer();
    const port = await new Promise<number>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(0, '127.0.0.1', () => {
        const address = probe.address();
        resolve(typeof address === 'object' && address !== null ? address.port : 0);
      });
    });
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const proxy = new TcpProxy(port, target);
    await proxy.listen();
    return proxy;
  }

  /** Nothing is forwarded any more, on open connections or new ones; sockets stay open. */
  blackhole(): void {
    this.#mode = 'blackhole';
  }

  /** Open connections are reset and new ones refused (the port is closed). */
  async refuse(): Promise<void> {
    // server.close() waits for open connections: reset them after it stopped accepting, then wait.
    const closed = this.closeServer();
    this.destroyAll();
    await closed;
  }

  /** Back to forwarding: connections of the outage are reset (their streams lost bytes), the port listens again. */
  async restore(): Promise<void> {
    this.destroyAll();
    this.#mode = 'forward';
    if (this.#server === undefined) await this.listen();
  }

  async close(): Promise<void> {
    await this.refuse();
  }

  private destroyAll(): void {
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  private async closeServer(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async listen(): Promise<void> {
    const server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
  }

  private accept(client: Socket): void {
    this.#sockets.add(client);
    let upstream: Socket | undefined;
    const drop = (): void => {
      client.destroy();
      upstream?.destroy();
      this.#sockets.delete(client);
      if (upstream) this.#sockets.delete(upstream);
    };
    client.on('error', drop);
    client.on('close', drop);
    // A blackholed server accepts and then never answers: no upstream connection at all.
    const open = (): Socket => {
      const socket = connect(this.target.port, this.target.host);
      this.#sockets.add(socket);
      socket.on('error', drop);
      socket.on('close', drop);
      socket.on('data', (data: Buffer) => {
        if (this.#mode === 'forward') client.write(data);
      });
      return socket;
    };
    if (this.#mode === 'forward') upstream = open();
    client.on('data', (data: Buffer) => {
      if (this.#mode !== 'forward') return;
      upstream ??= open();
      upstream.write(data);
    });
  }
}
