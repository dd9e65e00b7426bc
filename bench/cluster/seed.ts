import pg from 'pg';
import { passwordVerifier } from '../../src/security/password-verifier.js';
import { hashPassword } from '../../src/security/passwords.js';

const ROWS_PER_STATEMENT = 10_000;

/**
 * Registers the fleet straight in the run's fresh database, as the API would leave it after a first login, without
 * paying scrypt per station: `PUT /api/v1/stations/{id}` hashes each password with scrypt (N=2^15, ~0.1 s of a core),
 * hours for 100,000 stations. One fleet password is hashed once, every row holds that hash and its own keyed
 * verifier (src/security/password-verifier.ts) under the key every node is given, so each station is admitted with
 * one HMAC, as a station that has logged in before is. Security profile 1, boot policy Accepted.
 * Needs the schema: a node must have started (and migrated) on the database first.
 */
export async function seedStations(databaseUrl: string, stationIds: readonly string[], password: string, verifierKey: Buffer): Promise<void> {
  const passwordHash = await hashPassword(password);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    for (let i = 0; i < stationIds.length; i += ROWS_PER_STATEMENT) {
      const ids = stationIds.slice(i, i + ROWS_PER_STATEMENT);
      await client.query(
        `INSERT INTO stations (id, security_profile, password_hash, password_verifier, boot_policy)
         SELECT t.id, 1, $2, t.verifier, 'Accepted' FROM unnest($1::text[], $3::bytea[]) AS t (id, verifier)`,
        [ids, passwordHash, ids.map((id) => passwordVerifier(verifierKey, id, passwordHash, password))],
      );
    }
  } finally {
    await client.end();
  }
}
