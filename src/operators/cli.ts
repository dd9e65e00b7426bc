import { ConfigError, loadConfig } from '../config.js';
import type { ApiRole } from '../api/route-spec.js';
import { hashPassword } from '../security/passwords.js';
import { prepareDataDir } from '../store/data-dir.js';
import { DataDirInUseError, lockDataDir } from '../store/data-dir-lock.js';
import { openStore } from '../store/open-store.js';

/**
 * `npm run user -- add <username> --role <viewer|operator|admin>`: creates an operator account straight in the
 * configured store (DATABASE_URL, else the embedded store in CSMS_DATA_DIR), without the API, so the first admin
 * can exist before anyone holds a credential. The password comes from CSMS_USER_PASSWORD or, without it, from
 * stdin (one line), never from the command line (which `ps` shows to every user of the machine).
 *
 * `npm run user -- password <username>` sets a new password the same way (ending the user's sessions).
 */
const USAGE = 'usage: npm run user -- add <username> --role viewer|operator|admin   |   npm run user -- password <username>';
const ROLES: readonly ApiRole[] = ['viewer', 'operator', 'admin'];
const USERNAME = /^[A-Za-z0-9._@-]{1,64}$/;

function fail(message: string, code = 2): never {
  process.stderr.write(`stroom user: ${message}\n`);
  process.exit(code);
}

async function readPassword(): Promise<string> {
  const fromEnv = process.env.CSMS_USER_PASSWORD;
  if (fromEnv !== undefined) return fromEnv;
  if (process.stdin.isTTY) process.stderr.write('password (one line): ');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return (Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '').trimEnd();
}

async function main(argv: readonly string[]): Promise<void> {
  const [command, username, ...rest] = argv;
  if ((command !== 'add' && command !== 'password') || username === undefined) fail(USAGE);
  if (!USERNAME.test(username)) fail('a username has 1-64 letters, digits and . _ @ -');
  let role: ApiRole | undefined;
  if (command === 'add') {
    const roleIndex = rest.indexOf('--role');
    const given = roleIndex >= 0 ? rest[roleIndex + 1] : undefined;
    if (given === undefined || !ROLES.includes(given as ApiRole)) fail(`--role must be one of ${ROLES.join(', ')}\n${USAGE}`);
    role = given as ApiRole;
  }
  const password = await readPassword();
  if (password.length < 12 || password.length > 128) fail('the password must have 12-128 characters');

  let config;
  try {
    config = loadConfig(process.env, undefined);
  } catch (err) {
    fail(err instanceof ConfigError ? err.message : String(err));
  }
  let lock;
  try {
    if (config.databaseUrl === undefined) {
      await prepareDataDir(config.dataDir);
      lock = await lockDataDir(config.dataDir);
    }
  } catch (err) {
    if (err instanceof DataDirInUseError) fail(`${err.message} (stop the CSMS, or create the user through the API)`, 1);
    throw err;
  }
  const store = await openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, dataDirLock: lock });
  try {
    const passwordHash = await hashPassword(password);
    if (role !== undefined) {
      const user = await store.operators.createUser(username, passwordHash, role);
      if (user === undefined) fail(`user ${username} exists already (use: npm run user -- password ${username})`, 1);
      process.stdout.write(`created ${role} ${username}\n`);
    } else {
      const user = await store.operators.updateUser(username, { passwordHash });
      if (user === undefined) fail(`no user ${username}`, 1);
      process.stdout.write(`new password for ${username}; its sessions have ended\n`);
    }
  } finally {
    await store.close();
  }
}

main(process.argv.slice(2)).catch((err: unknown) => fail(err instanceof Error ? err.message : String(err), 1));
