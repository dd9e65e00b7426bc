import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * The one logger: structured JSON on stdout, one event per line. Station-scoped loggers carry
 * `stationId`; message-level events add `messageId` and `action`. Secrets never reach a log call: the
 * Authorization header and passwords are redacted by path as a second line of defence.
 */
export function createLogger(level: string, bindings: Record<string, string> = {}): Logger {
  return pino({
    level,
    base: bindings,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: ['password', '*.password', 'authorization', '*.authorization', 'headers.authorization'], censor: '[redacted]' },
  });
}

/**
 * Sampled logging for events an outsider can trigger at will (refused upgrades, unreadable frames, vendor
 * messages): the first occurrence of each kind is logged, then at most one line per `intervalMs` per kind,
 * carrying how many were suppressed since the last line. Metrics count every occurrence; the log only shows
 * that it happens. At most `maxKinds` kinds are remembered (the oldest is forgotten), so an attacker choosing
 * kinds cannot grow memory.
 */
export class SampledLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = 10_000,
    private readonly now: () => number = Date.now,
    private readonly maxKinds = 1_000,
  ) {}

  warn(kind: string, fields: Record<string, unknown>, message: string): void {
    this.write('warn', kind, fields, message);
  }

  error(kind: string, fields: Record<string, unknown>, message: string): void {
    this.write('error', kind, fields, message);
  }

  info(kind: string, fields: Record<string, unknown>, message: string): void {
    this.write('info', kind, fields, message);
  }

  private write(level: 'info' | 'warn' | 'error', kind: string, fields: Record<string, unknown>, message: string): void {
    if (!this.log.isLevelEnabled(level)) return;
    const now = this.now();
    const seen = this.last.get(kind);
    if (seen !== undefined && now - seen.at < this.intervalMs) {
      seen.suppressed += 1;
      return;
    }
    this.last.delete(kind);
    if (this.last.size >= this.maxKinds) {
      const oldest = this.last.keys().next();
      if (oldest.done !== true) this.last.delete(oldest.value);
    }
    this.last.set(kind, { at: now, suppressed: 0 });
    const suppressed = seen !== undefined && seen.suppressed > 0 ? { suppressed: seen.suppressed } : {};
    this.log[level]({ ...fields, ...suppressed, sampled: kind }, message);
  }
}
