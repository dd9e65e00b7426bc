/**
 * The baseline: an honest, minimal CSMS as a typical Node implementation writes it, on the `ocpp-rpc`
 * package (the best-designed OCPP RPC library in Node) — its `RPCServer` on `ws`, strict mode (every
 * CALL and answer validated against the official 2.0.1 schemas), handlers registered by action.
 *
 * - Upgrade: the station's password is checked against a salted scrypt hash in PostgreSQL (same cost
 *   parameters as Stroom), per connection. With CSMS_UNKNOWN_STATIONS=accept an unknown station is
 *   registered on first use, like Stroom's open registration.
 * - BootNotification: Accepted. Heartbeat: the time. StatusNotification: acknowledged.
 * - Authorize: one SELECT on the id_tokens table.
 * - TransactionEvent / MeterValues: one INSERT each into PostgreSQL (pg pool) before answering.
 * - Operator API (node:http): PUT stations / id-tokens, POST …/commands/{Action} → client.call(), /health,
 *   and a /metrics with the few gauges the benchmark reads.
 *
 * Configured with the same environment names as Stroom (CSMS_OCPP_PORT, CSMS_API_PORT, DATABASE_URL,
 * CSMS_UNKNOWN_STATIONS, CSMS_HEARTBEAT_INTERVAL, CSMS_CALL_TIMEOUT_MS). Run only by the benchmark.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import pg from 'pg';

// ------------------------------------------------------------------------------ ocpp-rpc, typed here

/**
 * Loaded at run time so that building Stroom never depends on this dev-only package. These are the parts
 * of its API (index.d.ts) used below.
 */
interface RpcHandlerContext {
  method: string;
  params: Record<string, unknown>;
  messageId: string;
}

interface RpcServerClient {
  readonly identity: string;
  /** The subprotocol the connection negotiated (`ocpp2.0.1`, `ocpp1.6`). */
  readonly protocol: string;
  handle(method: string, handler: (ctx: RpcHandlerContext) => unknown): void;
  handle(handler: (ctx: RpcHandlerContext) => unknown): void;
  call(method: string, params: unknown, options?: { callTimeoutMs?: number }): Promise<unknown>;
  close(options?: { code?: number; reason?: string; force?: boolean }): Promise<unknown>;
  on(event: 'close', listener: () => void): void;
}

interface Handshake {
  identity: string;
  password: Buffer | undefined;
}

interface RpcServer {
  auth(
    callback: (accept: (session?: Record<string, unknown>, protocol?: string) => void, reject: (code: number, message: string) => void, handshake: Handshake) => void,
  ): void;
  on(event: 'client', listener: (client: RpcServerClient) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  handleUpgrade: (request: IncomingMessage, socket: import('node:stream').Duplex, head: Buffer) => void;
  close(options?: { code?: number; reason?: string; force?: boolean }): Promise<void>;
}

interface OcppRpcModule {
  RPCServer: new (options: { protocols: string[]; strictMode: boolean; callTimeoutMs: number }) => RpcServer;
  createRPCError: (type: string, message?: string, details?: Record<string, unknown>) => Error;
  RPCError: new (...args: unknown[]) => Error;
  TimeoutError: new (...args: unknown[]) => Error;
}

function loadOcppRpc(): OcppRpcModule {
  try {
    return createRequire(import.meta.url)('ocpp-rpc') as OcppRpcModule;
  } catch {
    process.stderr.write('baseline: the ocpp-rpc package is missing: npm install --save-dev --save-exact ocpp-rpc@2.2.1\n');
    process.exit(2);
  }
}

// ------------------------------------------------------------------------------ configuration

const env = process.env;
const ocppPort = Number(env.CSMS_OCPP_PORT ?? 9000);
const apiPort = Number(env.CSMS_API_PORT ?? 8080);
const databaseUrl = env.DATABASE_URL;
const acceptUnknown = env.CSMS_UNKNOWN_STATIONS === 'accept';
const heartbeatInterval = Number(env.CSMS_HEARTBEAT_INTERVAL ?? 300);
const callTimeoutMs = Number(env.CSMS_CALL_TIMEOUT_MS ?? 30_000);

if (databaseUrl === undefined) {
  process.stderr.write('baseline: DATABASE_URL is required\n');
  process.exit(2);
}

// ------------------------------------------------------------------------------ passwords

const SCRYPT = { N: 4096, r: 8, p: 1 };

function derive(password: Buffer | string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, 32, SCRYPT, (err, key) => (err ? reject(err) : resolve(key))));
}

async function hashPassword(password: Buffer | string): Promise<string> {
  const salt = randomBytes(16);
  return `${salt.toString('base64')}$${(await derive(password, salt)).toString('base64')}`;
}

async function verifyPassword(password: Buffer, stored: string): Promise<boolean> {
  const [salt, key] = stored.split('$');
  if (salt === undefined || key === undefined) return false;
  const expected = Buffer.from(key, 'base64');
  const actual = await derive(password, Buffer.from(salt, 'base64'));
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

// ------------------------------------------------------------------------------ the CSMS

const SCHEMA = `
CREATE TABLE IF NOT EXISTS stations (id text PRIMARY KEY, password_hash text, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS id_tokens (type text NOT NULL, id_token text NOT NULL, status text NOT NULL, group_id text, PRIMARY KEY (type, id_token));
CREATE TABLE IF NOT EXISTS transaction_events (
  id bigserial PRIMARY KEY, station_id text NOT NULL, transaction_id text NOT NULL, seq_no integer NOT NULL,
  event_type text NOT NULL, event_time timestamptz NOT NULL, payload jsonb NOT NULL, received_at timestamptz NOT NULL DEFAULT now());
CREATE SEQUENCE IF NOT EXISTS ocpp16_transaction_ids;
CREATE TABLE IF NOT EXISTS meter_values (
  id bigserial PRIMARY KEY, station_id text NOT NULL, evse_id integer NOT NULL, payload jsonb NOT NULL, received_at timestamptz NOT NULL DEFAULT now());
`;

async function main(): Promise<void> {
  const { RPCServer, createRPCError, RPCError, TimeoutError } = loadOcppRpc();
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
  pool.on('error', (err) => process.stderr.write(`baseline: idle database connection failed: ${err.message}\n`));
  await pool.query(SCHEMA);

  const clients = new Map<string, RpcServerClient>();
  const server = new RPCServer({ protocols: ['ocpp2.0.1', 'ocpp1.6'], strictMode: true, callTimeoutMs });
  server.on('error', (err) => process.stderr.write(`baseline: ${err.message}\n`));

  server.auth((accept, reject, handshake) => {
    void (async () => {
      const { rows } = await pool.query<{ password_hash: string | null }>('SELECT password_hash FROM stations WHERE id = $1', [handshake.identity]);
      const row = rows[0];
      if (row === undefined) {
        if (!acceptUnknown) return reject(404, 'unknown station');
        const hash = handshake.password !== undefined ? await hashPassword(handshake.password) : null;
        await pool.query('INSERT INTO stations (id, password_hash) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING', [handshake.identity, hash]);
        return accept({});
      }
      if (row.password_hash === null) return acceptUnknown ? accept({}) : reject(401, 'no password');
      if (handshake.password === undefined || !(await verifyPassword(handshake.password, row.password_hash))) return reject(401, 'unauthorized');
      accept({});
    })().catch((err: unknown) => {
      process.stderr.write(`baseline: auth failed: ${err instanceof Error ? err.message : String(err)}\n`);
      reject(500, 'internal error');
    });
  });

  server.on('client', (client) => {
    const identity = client.identity;
    clients.set(identity, client);
    client.on('close', () => {
      if (clients.get(identity) === client) clients.delete(identity);
    });

    client.handle('BootNotification', () => ({ status: 'Accepted', currentTime: new Date().toISOString(), interval: heartbeatInterval }));
    client.handle('Heartbeat', () => ({ currentTime: new Date().toISOString() }));
    client.handle('StatusNotification', () => ({}));
    client.handle(({ method }) => {
      throw createRPCError('NotImplemented', `${method} is not handled`);
    });
    if (client.protocol === 'ocpp1.6') {
      handle16(client);
      return;
    }
    client.handle('Authorize', async ({ params }) => {
      const token = params.idToken as { idToken: string; type: string };
      const { rows } = await pool.query<{ status: string }>('SELECT status FROM id_tokens WHERE type = $1 AND id_token = $2', [token.type, token.idToken]);
      return { idTokenInfo: { status: rows[0]?.status ?? 'Unknown' } };
    });
    client.handle('TransactionEvent', async ({ params }) => {
      const info = params.transactionInfo as { transactionId: string };
      await pool.query('INSERT INTO transaction_events (station_id, transaction_id, seq_no, event_type, event_time, payload) VALUES ($1, $2, $3, $4, $5, $6)', [
        identity,
        info.transactionId,
        params.seqNo,
        params.eventType,
        params.timestamp,
        params,
      ]);
      return {};
    });
    client.handle('MeterValues', async ({ params }) => {
      await pool.query('INSERT INTO meter_values (station_id, evse_id, payload) VALUES ($1, $2, $3)', [identity, params.evseId, params]);
      return {};
    });
  });

  /** The same CSMS for a 1.6 station: idTags looked up by value, transactionIds from a sequence. */
  function handle16(client: RpcServerClient): void {
    const identity = client.identity;
    client.handle('Authorize', async ({ params }) => {
      const { rows } = await pool.query<{ status: string }>('SELECT status FROM id_tokens WHERE upper(id_token) = upper($1) LIMIT 1', [params.idTag]);
      return { idTagInfo: { status: rows[0]?.status ?? 'Invalid' } };
    });
    client.handle('StartTransaction', async ({ params }) => {
      const { rows } = await pool.query<{ id: number }>(
        `WITH id AS (SELECT nextval('ocpp16_transaction_ids')::integer AS id)
         INSERT INTO transaction_events (station_id, transaction_id, seq_no, event_type, event_time, payload)
         SELECT $1, id.id::text, 0, 'Started', $2, $3 FROM id RETURNING transaction_id::integer AS id`,
        [identity, params.timestamp, params],
      );
      const { rows: tokens } = await pool.query<{ status: string }>('SELECT status FROM id_tokens WHERE upper(id_token) = upper($1) LIMIT 1', [params.idTag]);
      return { transactionId: rows[0]?.id ?? 0, idTagInfo: { status: tokens[0]?.status ?? 'Invalid' } };
    });
    client.handle('StopTransaction', async ({ params }) => {
      await pool.query('INSERT INTO transaction_events (station_id, transaction_id, seq_no, event_type, event_time, payload) VALUES ($1, $2, 1, $3, $4, $5)', [
        identity,
        String(params.transactionId),
        'Ended',
        params.timestamp,
        params,
      ]);
      return {};
    });
    client.handle('MeterValues', async ({ params }) => {
      await pool.query('INSERT INTO meter_values (station_id, evse_id, payload) VALUES ($1, $2, $3)', [identity, params.connectorId, params]);
      return {};
    });
  }

  const ocppHttp = createServer((_req, res) => res.writeHead(404).end());
  ocppHttp.on('upgrade', server.handleUpgrade);
  ocppHttp.maxConnections = 1_000_000;

  const api = createServer((req, res) => {
    handleApi(req, res).catch((err: unknown) => json(res, 500, { error: { code: 'internal', message: err instanceof Error ? err.message : String(err) } }));
  });

  async function handleApi(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const parts = url.pathname
      .split('/')
      .filter((p) => p.length > 0)
      .map(decodeURIComponent);
    if (req.method === 'GET' && url.pathname === '/health') return json(res, 200, { status: 'ok' });
    if (req.method === 'GET' && url.pathname === '/metrics') {
      const memory = process.memoryUsage();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(`csms_connected_stations ${clients.size}\nnodejs_heap_size_used_bytes ${memory.heapUsed}\nprocess_resident_memory_bytes ${memory.rss}\n`);
      return;
    }
    const body = await readJson(req);
    // PUT /api/v1/stations/{id}
    if (req.method === 'PUT' && parts.length === 4 && parts[2] === 'stations') {
      const password = typeof body.password === 'string' ? await hashPassword(body.password) : null;
      await pool.query('INSERT INTO stations (id, password_hash) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET password_hash = EXCLUDED.password_hash', [
        parts[3],
        password,
      ]);
      return json(res, 201, { id: parts[3] });
    }
    // PUT /api/v1/id-tokens/{type}/{idToken}
    if (req.method === 'PUT' && parts.length === 5 && parts[2] === 'id-tokens') {
      await pool.query(
        'INSERT INTO id_tokens (type, id_token, status, group_id) VALUES ($1, $2, $3, $4) ON CONFLICT (type, id_token) DO UPDATE SET status = EXCLUDED.status, group_id = EXCLUDED.group_id',
        [parts[3], parts[4], body.status ?? 'Accepted', body.groupId ?? null],
      );
      return json(res, 200, { type: parts[3], idToken: parts[4], status: body.status ?? 'Accepted' });
    }
    // POST /api/v1/stations/{id}/commands/{action}
    if (req.method === 'POST' && parts.length === 6 && parts[2] === 'stations' && parts[4] === 'commands') {
      const client = clients.get(parts[3] as string);
      if (client === undefined) return json(res, 409, { error: { code: 'not_connected', message: 'station not connected' } });
      try {
        const response = await client.call(parts[5] as string, body);
        return json(res, 200, { request: body, response });
      } catch (err) {
        if (err instanceof TimeoutError) return json(res, 504, { error: { code: 'timeout', message: err.message } });
        if (err instanceof RPCError) {
          const code = (err as Error & { rpcErrorCode?: string }).rpcErrorCode ?? 'GenericError';
          return json(res, 502, { error: { code, message: err.message } });
        }
        throw err;
      }
    }
    json(res, 404, { error: { code: 'not_found', message: `${req.method} ${url.pathname}` } });
  }

  await new Promise<void>((resolve) => ocppHttp.listen(ocppPort, '0.0.0.0', resolve));
  await new Promise<void>((resolve) => api.listen(apiPort, '127.0.0.1', resolve));
  process.stderr.write(`baseline: ocpp-rpc CSMS on :${ocppPort}, API on :${apiPort}\n`);

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    const deadline = setTimeout(() => process.exit(1), 9000);
    deadline.unref();
    void (async () => {
      api.close();
      ocppHttp.close();
      await server.close({ code: 1001, reason: 'shutting down', force: true }).catch(() => undefined);
      await pool.end().catch(() => undefined);
      process.exit(0);
    })();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  if (chunks.length === 0) return {};
  const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
}

main().catch((err: unknown) => {
  process.stderr.write(`baseline: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
