import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as UwsModule from 'uWebSockets.js';

export type Uws = typeof UwsModule;
export type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_listen_socket } from 'uWebSockets.js';

const require = createRequire(import.meta.url);

/**
 * Loads uWebSockets.js's native binary directly. The package's own entry point silently falls back to a
 * pure-JS implementation (on `ws`) when the binary does not load, which would quietly cost us most of our
 * throughput; we would rather refuse to start and say why.
 */
export function loadNativeUws(): Uws {
  const packageDir = dirname(require.resolve('uWebSockets.js/package.json'));
  const binary = join(packageDir, 'binaries', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
  try {
    return require(binary) as Uws;
  } catch (err) {
    throw new Error(
      `uWebSockets.js native binary ${binary} does not load on Node ${process.version} (${(err as Error).message.split('\n')[0]}); ` +
        'refusing to start on the slow fallback — use Node 20 on linux-x64/arm64',
      { cause: err },
    );
  }
}

export function remoteAddressOf(res: { getRemoteAddressAsText(): ArrayBuffer }): string {
  return Buffer.from(res.getRemoteAddressAsText()).toString('latin1');
}

/** Listens and resolves with the listen socket and the port actually bound (port 0 = ephemeral). */
export function listen(uws: Uws, app: UwsModule.TemplatedApp, host: string, port: number): Promise<{ socket: UwsModule.us_listen_socket; port: number }> {
  return new Promise((resolve, reject) => {
    app.listen(host, port, (socket) => {
      if (socket === false) {
        reject(new Error(`cannot listen on ${host}:${port}`));
        return;
      }
      resolve({ socket, port: uws.us_socket_local_port(socket) });
    });
  });
}
