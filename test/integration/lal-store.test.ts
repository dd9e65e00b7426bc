/**
 * The local-list store on both engines (embedded PGlite and PostgreSQL): versions taken under a row lock are never
 * reused (DRV-LAL-01), token look-ups by jsonb containment, and the lists a resync after a Redis outage pushes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open-store.js';
import type { SqlStore } from '../../src/store/sql-store.js';
import { STORE_BACKENDS, type StoreLocation } from '../support/store-backends.js';

describe.each(STORE_BACKENDS)('LocalListStore on $name', (backend) => {
  let location: StoreLocation;
  let store: SqlStore;

  beforeAll(async () => {
    location = await backend.newLocation();
    store = await openStore(location.options);
  });

  afterAll(async () => {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
    await store?.close();
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined when beforeAll failed before assigning it
    await location?.remove();
  });

  const own = (id: string) => ({ idToken: { idToken: id, type: 'Central' }, idTokenInfo: { status: 'Accepted' } });
  const follower = (id: string) => ({ idToken: { idToken: id, type: 'Central' } });

  it('DRV-LAL-01: concurrent changes each get their own version, above every version sent', async () => {
    await store.upsertStation('LS-1', {});
    const lists = store.localLists;
    const results = await Promise.all(
      [1, 2, 3, 4].map((n) =>
        lists.change(
          'LS-1',
          (current) => [...current, own(`T${n}`)],
          () => 1,
        ),
      ),
    );
    const versions = results.map((r) => r.version as number).sort((a, b) => a - b);
    expect(versions).toEqual([1, 2, 3, 4]);
    expect((await lists.get('LS-1'))?.entries).toHaveLength(4);
    await lists.recordSent('LS-1', 10);
    const next = await lists.change(
      'LS-1',
      (current) => current,
      () => 3,
    );
    expect(next.version).toBe(13);
    expect(await lists.bumpVersion('LS-1', 12, 1)).toBe(false);
    expect(await lists.bumpVersion('LS-1', 13, 1)).toBe(true);
    expect((await lists.get('LS-1'))?.version).toBe(14);
    await expect(
      lists.change(
        'LS-missing',
        () => [],
        () => 1,
      ),
    ).rejects.toThrow(/unknown station/);
  });

  it('finds the lists that hold a token, and those that follow its register entry', async () => {
    await store.upsertStation('LS-2', {});
    await store.upsertStation('LS-3', {});
    await store.localLists.change(
      'LS-2',
      () => [follower('SHARED'), own('MINE')],
      () => 1,
    );
    await store.localLists.change(
      'LS-3',
      () => [own('SHARED')],
      () => 1,
    );
    expect((await store.localLists.listsHolding('Central', 'SHARED')).sort()).toEqual(['LS-2', 'LS-3']);
    expect(await store.localLists.listsFollowing('Central', 'SHARED')).toEqual(['LS-2']);
    expect(await store.localLists.listsFollowing('Central', 'MINE')).toEqual([]);
  });

  it('names the lists not in sync among given stations (the resync after Redis came back)', async () => {
    await store.upsertStation('LS-4', {});
    await store.localLists.change(
      'LS-4',
      () => [own('A')],
      () => 1,
    );
    expect(await store.localLists.notInSync(['LS-4', 'LS-1', 'nobody'])).toEqual(expect.arrayContaining(['LS-4', 'LS-1']));
    await store.localLists.setStatus('LS-4', 'InSync', undefined);
    expect(await store.localLists.notInSync(['LS-4'])).toEqual([]);
    expect(await store.localLists.notInSync([])).toEqual([]);
  });
});
