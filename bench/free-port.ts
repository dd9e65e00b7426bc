import { createServer } from 'node:net';

/**
 * A free TCP port on 127.0.0.1: a temporary server on port 0, closed again. Shared by the bench and the
 * test support, which both start CSMS processes and services on ports of their own.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}
