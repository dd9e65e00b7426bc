import { ConfigError, loadConfig } from './config.js';
import { runSupervisorIfNeeded } from './workers/index.js';
import { createLogger } from './log.js';
import { prepareDataDir } from './store/data-dir.js';
import { DataDirInUseError, lockDataDir, type DataDirLock } from './store/data-dir-lock.js';

/** `npm start`: configuration from the environment (and --config file), then one CSMS node until SIGTERM. */
function configFileArgument(argv: readonly string[]): string | undefined {
  const index = argv.indexOf('--config');
  if (index < 0) return undefined;
  const file = argv[index + 1];
  if (file === undefined) throw new ConfigError('--config', 'needs a file path');
  return file;
}

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env, configFileArgument(process.argv.slice(2)));
  } catch (err) {
    // One clear line naming the key, and no stack trace: this is the operator's mistake, not ours.
    process.stderr.write(`stroom: ${(err as Error).message}\n`);
    process.exit(2);
  }
  if (await runSupervisorIfNeeded(config)) return;
  const log = createLogger(config.logLevel, { nodeId: config.nodeId });
  // A promise nobody awaited must not take every station down with it: log it (it is a bug to fix) and go on.
  process.on('unhandledRejection', (reason) => log.error({ err: reason }, 'unhandled promise rejection'));
  let csms;
  let dataDir: { lock: DataDirLock; umaskSet: boolean } | undefined;
  try {
    // CONTRACT §1 "one owner": the embedded store's data dir is locked before the bulk of the code loads, so a
    // second process on it stops within moments, not after seconds of start-up.
    if (config.databaseUrl === undefined) {
      const { umaskSet } = await prepareDataDir(config.dataDir);
      dataDir = { lock: await lockDataDir(config.dataDir), umaskSet };
    }
    const { startCsmsWithConfig } = await import('./app.js');
    csms = await startCsmsWithConfig(config, { log, ...(dataDir && { dataDir }) });
  } catch (err) {
    await dataDir?.lock.release();
    // CONTRACT §1 "one owner": another process holds the data dir. One line naming it; no stack, no JSON log.
    if (err instanceof DataDirInUseError) {
      process.stderr.write(`stroom: ${err.message}\n`);
      process.exit(1);
    }
    log.fatal({ err }, 'CSMS failed to start');
    process.stderr.write(`stroom: ${(err as Error).message}\n`);
    process.exit(1);
  }

  let signalled = false;
  const shutdown = (signal: string): void => {
    if (signalled) return;
    signalled = true;
    log.info({ signal }, 'shutting down');
    // CONTRACT §1: exit within 10 s whatever happens.
    const deadline = setTimeout(() => {
      log.error('shutdown took longer than 10 s; exiting');
      process.exit(1);
    }, 9_000);
    deadline.unref();
    csms.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

void main();
