import type { Decision } from '../../cluster/routing-messages.js';
import type { CustomerInformationRequest, CustomerInformationResponse } from '../../ocpp/v201/types.js';
import type { BlockModule, StationHandle } from '../../station/types.js';
import { normalizeIdToken } from '../authorization/authorizer.js';
import { entryKey, type LocalListStore } from './local-list-store.js';
import type { LocalListSync } from './sync.js';

/**
 * Local Authorization List management (D01/D02; OCPP 1.6 §5.15/§5.10). The list each station should hold is
 * the CSMS's (routes.ts); the sync (sync.ts, machines/local-list-sync.machine.ts) brings the station there.
 * These hooks learn from every GetLocalListVersion and SendLocalList answer, whichever path sent it: what the
 * station reports is kept (TC_D_08/09), and a list changed behind the sync's back (the raw commands path) makes
 * the next sync a Full.
 */

export interface LocalListBlockDeps {
  lists: LocalListStore;
  /** The sync of this node; a getter because the block table is built before the sync host. */
  sync(): LocalListSync;
  /** Tells every node (this one included) that a station's desired list changed. */
  announce(decision: Decision): void;
}

export function createLocalListBlock(deps: LocalListBlockDeps): BlockModule {
  const { lists } = deps;

  async function stationVersionReported(station: StationHandle, request: object, version: number): Promise<void> {
    const record = await lists.recordStationVersion(station.stationId, version);
    // The sync asked itself and goes on by itself; an answer to an operator's own request that contradicts what
    // the station last accepted puts the managed list out of step (DRV-LAL-03).
    if (deps.sync().isOwnRequest(request) || record.entries === undefined || version === record.acceptedVersion) return;
    await lists.setStatus(station.stationId, 'Pending', undefined);
    deps.sync().changed(station.stationId);
  }

  async function listSent(station: StationHandle, request: object, version: number, accepted: boolean): Promise<void> {
    if (deps.sync().isOwnRequest(request)) return;
    // Whatever the answer, that version is spent: the CSMS never sends it again.
    await lists.recordSent(station.stationId, version);
    if (!accepted) return;
    await lists.recordForeignList(station.stationId, version);
    deps.sync().changed(station.stationId);
  }

  /**
   * N10.FR.02 (TC_N_46, DRV-LAL-11): customer data cleared for a token takes the token out of every list that holds
   * it, sent as a Differential removal with the next version.
   */
  async function customerDataCleared(_station: StationHandle, request: CustomerInformationRequest, response: CustomerInformationResponse): Promise<void> {
    if (!request.clear || response.status !== 'Accepted' || request.idToken === undefined) return;
    const token = { type: request.idToken.type, idToken: normalizeIdToken(request.idToken.type, request.idToken.idToken) };
    const key = entryKey(token);
    for (const stationId of await lists.listsHolding(token.type, token.idToken)) {
      await lists.change(
        stationId,
        (entries) => entries.filter((e) => entryKey(e.idToken) !== key),
        () => 1,
      );
      deps.announce({ kind: 'localList', stationId });
    }
  }

  return {
    name: 'local-list',
    handlers: {},
    resultHooks: {
      CustomerInformation: customerDataCleared,
      GetLocalListVersion: (station, request, response) => stationVersionReported(station, request, response.versionNumber),
      SendLocalList: (station, request, response) => listSent(station, request, request.versionNumber, response.status === 'Accepted'),
    },
    v16: {
      handlers: {},
      resultHooks: {
        GetLocalListVersion: (station, request, response) => stationVersionReported(station, request, response.listVersion),
        SendLocalList: (station, request, response) => listSent(station, request, request.listVersion, response.status === 'Accepted'),
      },
    },
  };
}
