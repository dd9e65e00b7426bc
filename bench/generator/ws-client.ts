import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/**
 * The load generator's WebSocket client: RFC 6455 over a bare `net.Socket`, just what a simulated
 * station needs (text frames, ping/pong, close; no extensions). A `ws` client costs the generator about
 * as much CPU per message as the CSMS under test spends; this costs a fraction, so the generator is not
 * what limits a run (it reports its own CPU so a reader can check).
 *
 * Client frames must be masked; this client masks with the all-zero key, which makes masking free. The
 * RFC asks for an unpredictable key (a browser concern: cache poisoning through proxies); a server
 * cannot tell and unmasks the same way, so the CSMS does exactly the work it does for a real station.
 */

export interface MiniSocketOptions {
  host: string;
  port: number;
  /** Request target, e.g. /ocpp/CS001 */
  path: string;
  protocol: string;
  /** Full Authorization header value, if any. */
  authorization?: string;
  /** Source address (127.0.0.2, …): each loopback address has its own ephemeral port range. */
  localAddress?: string;
  /** Handshake deadline. */
  timeoutMs: number;
}

export interface MiniSocketHandlers {
  onOpen(): void;
  onText(text: string): void;
  /** Exactly once. `error` is set when the socket never opened or broke (not for a clean close). */
  onClose(code: number, error: string | undefined): void;
}

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;
const HEADER_END = Buffer.from('\r\n\r\n');

const enum State {
  Handshake,
  Open,
  Closed,
}

function frame(opcode: number, payload: Buffer | string): Buffer {
  const length = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(header + 4 + length);
  out[0] = 0x80 | opcode;
  if (length < 126) {
    out[1] = 0x80 | length;
  } else if (length < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(length, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(0, 2);
    out.writeUInt32BE(length, 6);
  }
  out.writeUInt32BE(0, header); // the zero mask key
  if (typeof payload === 'string') out.write(payload, header + 4, 'utf8');
  else payload.copy(out, header + 4);
  return out;
}

export class MiniWebSocket {
  private readonly socket: Socket;
  private state = State.Handshake;
  private pending: Buffer | undefined;
  private fragments: Buffer[] | undefined;
  private readonly expectedAccept: string;
  private timer: NodeJS.Timeout | undefined;
  private closeCode = 1006;

  constructor(
    options: MiniSocketOptions,
    private readonly handlers: MiniSocketHandlers,
  ) {
    const key = randomBytes(16).toString('base64');
    this.expectedAccept = createHash('sha1')
      .update(key + WS_GUID)
      .digest('base64');
    const request =
      `GET ${options.path} HTTP/1.1\r\nHost: ${options.host}:${options.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${options.protocol}\r\n` +
      (options.authorization !== undefined ? `Authorization: ${options.authorization}\r\n` : '') +
      '\r\n';
    this.socket = connect({
      host: options.host,
      port: options.port,
      noDelay: true,
      ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}),
    });
    this.socket.on('connect', () => this.socket.write(request));
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err: NodeJS.ErrnoException) => this.finish(err.code ?? err.message));
    this.socket.on('close', () => this.finish(this.state === State.Handshake ? 'closed during handshake' : 'connection lost'));
    this.timer = setTimeout(() => {
      if (this.state === State.Handshake) {
        this.finish('handshake timeout');
        this.socket.destroy();
      }
    }, options.timeoutMs);
  }

  get isOpen(): boolean {
    return this.state === State.Open;
  }

  /** False when the socket is not open or the kernel buffer is full (the text is queued either way when open). */
  sendText(text: string): boolean {
    if (this.state !== State.Open) return false;
    return this.socket.write(frame(OP_TEXT, text));
  }

  close(code = 1000): void {
    if (this.state !== State.Open) {
      this.socket.destroy();
      return;
    }
    const payload = Buffer.allocUnsafe(2);
    payload.writeUInt16BE(code, 0);
    this.closeCode = code;
    this.socket.end(frame(OP_CLOSE, payload));
    this.state = State.Closed;
    this.clearTimer();
    this.handlers.onClose(code, undefined);
  }

  /** Drops the TCP connection without a close frame (a station losing power). */
  destroy(): void {
    this.socket.destroy();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private finish(error: string | undefined, destroy = true): void {
    if (this.state === State.Closed) return;
    this.state = State.Closed;
    this.clearTimer();
    if (destroy) this.socket.destroy();
    this.handlers.onClose(this.closeCode, error);
  }

  private onData(chunk: Buffer): void {
    let data = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = undefined;
    if (this.state === State.Handshake) {
      const end = data.indexOf(HEADER_END);
      if (end < 0) {
        this.pending = data;
        return;
      }
      const head = data.toString('latin1', 0, end);
      const status = head.slice(9, 12);
      if (status !== '101') {
        this.finish(`HTTP ${status}`);
        return;
      }
      const accept = /\r\nsec-websocket-accept:\s*(\S+)/i.exec(head)?.[1];
      if (accept !== this.expectedAccept) {
        this.finish('bad Sec-WebSocket-Accept');
        return;
      }
      this.state = State.Open;
      this.clearTimer();
      data = data.subarray(end + 4);
      this.handlers.onOpen();
      if (data.length === 0) return;
    }
    this.readFrames(data);
  }

  private readFrames(data: Buffer): void {
    let offset = 0;
    while (this.state === State.Open && data.length - offset >= 2) {
      const b0 = data[offset] as number;
      const b1 = data[offset + 1] as number;
      let length = b1 & 0x7f;
      let header = 2;
      if (length === 126) {
        if (data.length - offset < 4) break;
        length = data.readUInt16BE(offset + 2);
        header = 4;
      } else if (length === 127) {
        if (data.length - offset < 10) break;
        length = data.readUInt32BE(offset + 2) * 2 ** 32 + data.readUInt32BE(offset + 6);
        header = 10;
      }
      const masked = (b1 & 0x80) !== 0;
      const start = offset + header + (masked ? 4 : 0);
      if (data.length < start + length) break;
      let payload = data.subarray(start, start + length);
      if (masked) {
        const mask = data.subarray(offset + header, offset + header + 4);
        payload = Buffer.from(payload);
        for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (mask[i & 3] as number);
      }
      offset = start + length;
      this.onFrame((b0 & 0x80) !== 0, b0 & 0x0f, payload);
    }
    if (offset < data.length && this.state === State.Open) this.pending = Buffer.from(data.subarray(offset));
  }

  private onFrame(fin: boolean, opcode: number, payload: Buffer): void {
    switch (opcode) {
      case OP_TEXT:
      case OP_BINARY:
      case OP_CONTINUATION:
        if (!fin || this.fragments !== undefined) {
          (this.fragments ??= []).push(Buffer.from(payload));
          if (!fin) return;
          const whole = Buffer.concat(this.fragments);
          this.fragments = undefined;
          this.handlers.onText(whole.toString('utf8'));
          return;
        }
        this.handlers.onText(payload.toString('utf8'));
        return;
      case OP_PING:
        this.socket.write(frame(OP_PONG, Buffer.from(payload)));
        return;
      case OP_PONG:
        return;
      case OP_CLOSE: {
        this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        this.socket.end(frame(OP_CLOSE, payload.subarray(0, 2)));
        this.finish(undefined, false);
        return;
      }
      default:
        this.finish(`unexpected opcode ${opcode}`);
    }
  }
}
