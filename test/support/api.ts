/** A small typed client for the operator REST API (CONTRACT §4), fetch-based. */

export type BootPolicy = 'Accepted' | 'Pending' | 'Rejected';

export interface StationRegistration {
  securityProfile?: 1 | 2 | 3;
  password?: string;
  bootPolicy?: BootPolicy;
  ocppVersion?: 'auto' | '1.6' | '2.0.1';
}

export interface StationView {
  id: string;
  securityProfile: number;
  bootPolicy: BootPolicy;
  bootStatus?: string | null;
  connected: boolean;
  nodeId?: string | null;
  lastSeen?: string | null;
  chargingStation?: { model?: string; vendorName?: string; serialNumber?: string; firmwareVersion?: string } | null;
  evses?: Array<{ id: number; connectors: Array<{ id: number; status?: string | null }> }>;
  firmwareStatus?: string | null;
  logStatus?: string | null;
  [key: string]: unknown;
}

export interface ApiError {
  error: { code: string; message: string; details?: unknown };
}

export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
  text: string;
  headers: Headers;
}

export interface CommandResult<Req = Record<string, unknown>, Res = Record<string, unknown>> {
  request: Req;
  response: Res;
}

export interface ReportView {
  requestId: number;
  complete: boolean;
  reportData: unknown[];
}

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    readonly token?: string,
  ) {}

  async request<T = unknown>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse<T>> {
    const init: RequestInit = { method, headers: { ...headers } };
    if (this.token !== undefined) (init.headers as Record<string, string>).Authorization = `Bearer ${this.token}`;
    if (body !== undefined) {
      (init.headers as Record<string, string>)['Content-Type'] = 'application/json';
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
    }
    const res = await fetch(`${this.baseUrl}${path}`, init);
    const text = await res.text();
    let parsed: unknown = text;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    return { status: res.status, body: parsed as T, text, headers: res.headers };
  }

  private static station(id: string): string {
    return `/api/v1/stations/${encodeURIComponent(id)}`;
  }

  putStation(id: string, registration: StationRegistration): Promise<ApiResponse<StationView & ApiError>> {
    return this.request('PUT', ApiClient.station(id), registration);
  }

  patchStation(id: string, changes: StationRegistration): Promise<ApiResponse<StationView & ApiError>> {
    return this.request('PATCH', ApiClient.station(id), changes);
  }

  getStation(id: string): Promise<ApiResponse<StationView & ApiError>> {
    return this.request('GET', ApiClient.station(id));
  }

  listStations(query: { connected?: boolean } = {}): Promise<ApiResponse<{ items: StationView[] } & ApiError>> {
    const qs = query.connected === undefined ? '' : `?connected=${String(query.connected)}`;
    return this.request('GET', `/api/v1/stations${qs}`);
  }

  deleteStation(id: string): Promise<ApiResponse> {
    return this.request('DELETE', ApiClient.station(id));
  }

  /** POST /api/v1/stations/{id}/commands/{action}. */
  command<Req = Record<string, unknown>, Res = Record<string, unknown>>(
    id: string,
    action: string,
    payload: unknown,
  ): Promise<ApiResponse<CommandResult<Req, Res> & ApiError>> {
    return this.request('POST', `${ApiClient.station(id)}/commands/${encodeURIComponent(action)}`, payload);
  }

  getReport(id: string, requestId: number): Promise<ApiResponse<ReportView & ApiError>> {
    return this.request('GET', `${ApiClient.station(id)}/reports/${requestId}`);
  }

  getVariables(id: string): Promise<ApiResponse> {
    return this.request('GET', `${ApiClient.station(id)}/variables`);
  }

  health(): Promise<ApiResponse<{ status: string }>> {
    return this.request('GET', '/health');
  }

  openapi(): Promise<ApiResponse<Record<string, unknown>>> {
    return this.request('GET', '/api/v1/openapi.json');
  }

  /** The Prometheus text exposition. */
  async metrics(): Promise<string> {
    const res = await this.request<string>('GET', '/metrics');
    if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}: ${res.text.slice(0, 200)}`);
    return res.text;
  }
}

/** Sum of all samples of `name` (optionally only those whose labels include `labels`) in a Prometheus text. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (m === null || m[1] !== name) continue;
    const labelText = m[3] ?? '';
    const ok = Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`));
    if (ok) sum += Number(m[4]);
  }
  return sum;
}

export interface RawHttpRequest {
  method: string;
  path: string;
  /** Sent as given: Host is not filled in unless named here (fetch cannot set Host, node's http can). */
  headers?: Record<string, string | number>;
  body?: string | Buffer;
}

export interface RawHttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The parsed JSON body, or undefined when it was not JSON. */
  json: unknown;
  /** The connection failed after the whole answer had arrived (e.g. reset while the request body was still going). */
  errorAfterAnswer?: string;
}

/**
 * One HTTP/1.1 request over a fresh connection with node's http client, so tests can send any Host, Origin,
 * Content-Type or body size. Resolves once the whole answer has arrived; rejects when no answer arrived
 * (a reset before the status line, for instance).
 */
export async function rawHttp(port: number, request: RawHttpRequest): Promise<RawHttpResponse> {
  const { Agent, request: httpRequest } = await import('node:http');
  // Keep-alive, as browsers and most clients ask: so a `Connection: close` in the answer is the server's decision.
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { Host: `127.0.0.1:${port}`, ...request.headers };
    // node frames a GET/DELETE body only when told its length.
    const framed = Object.keys(headers).some((name) => ['content-length', 'transfer-encoding'].includes(name.toLowerCase()));
    if (request.body !== undefined && !framed) headers['Content-Length'] = Buffer.byteLength(request.body);
    const req = httpRequest({ host: '127.0.0.1', port, method: request.method, path: request.path, headers, agent, setHost: false });
    let answered: RawHttpResponse | undefined;
    let settled = false;
    const settle = (outcome: RawHttpResponse | Error): void => {
      if (settled) return;
      settled = true;
      agent.destroy();
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        answered = { status: res.statusCode ?? 0, headers: res.headers, text, json };
        settle(answered);
      });
      res.on('error', (err) => settle(answered ?? err));
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (answered !== undefined) {
        answered.errorAfterAnswer = err.code ?? err.message;
        return;
      }
      settle(new Error(`${request.method} ${request.path}: no answer (${err.code ?? err.message})`));
    });
    if (request.body !== undefined) req.end(request.body);
    else req.end();
  });
}
