/**
 * A real HTTP receiver of webhook deliveries in the test process: records every request, answers as the test says.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface ReceivedDelivery {
  /** webhook-id */
  id: string;
  timestamp: string;
  signature: string;
  headers: IncomingHttpHeaders;
  body: string;
  payload: { type: string; timestamp: string; data: Record<string, unknown> };
  /** What the receiver answered (null: it never answered). */
  answered: number | null;
}

/** What to answer to the n-th request (0-based): an HTTP status, or 'hang' (never answer). */
export type Answer = (delivery: Omit<ReceivedDelivery, 'answered'>, n: number) => number | 'hang';

export class WebhookReceiver {
  readonly received: ReceivedDelivery[] = [];
  answer: Answer = () => 200;
  private readonly hanging = new Set<ServerResponse>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(path = '/hook'): Promise<WebhookReceiver> {
    const created: { receiver?: WebhookReceiver } = {};
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => created.receiver?.take(req.headers, Buffer.concat(chunks).toString('utf8'), res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const receiver = new WebhookReceiver(server, `http://127.0.0.1:${port}${path}`);
    created.receiver = receiver;
    return receiver;
  }

  private take(headers: IncomingHttpHeaders, body: string, res: ServerResponse): void {
    const header = (name: string): string => {
      const value = headers[name];
      return typeof value === 'string' ? value : '';
    };
    const partial = {
      id: header('webhook-id'),
      timestamp: header('webhook-timestamp'),
      signature: header('webhook-signature'),
      headers,
      body,
      payload: JSON.parse(body) as ReceivedDelivery['payload'],
    };
    const answer = this.answer(partial, this.received.length);
    this.received.push({ ...partial, answered: answer === 'hang' ? null : answer });
    if (answer === 'hang') {
      this.hanging.add(res);
      return;
    }
    res.writeHead(answer, { 'content-type': 'text/plain' }).end('ok');
  }

  /** Deliveries of one event type (in arrival order). */
  ofType(type: string): ReceivedDelivery[] {
    return this.received.filter((d) => d.payload.type === type);
  }

  /** Verifies a delivery's signature with the Standard Webhooks reference library; throws when it does not verify. */
  static verify(secret: string, delivery: ReceivedDelivery): unknown {
    return new Webhook(secret).verify(delivery.body, {
      'webhook-id': delivery.id,
      'webhook-timestamp': delivery.timestamp,
      'webhook-signature': delivery.signature,
    });
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
