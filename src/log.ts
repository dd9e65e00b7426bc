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
