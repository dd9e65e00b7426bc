import type {
  CertificateHashDataChainType,
  CertificateHashDataType,
  DeleteCertificateRequest,
  DeleteCertificateResponse,
  GetInstalledCertificateIdsRequest,
  GetInstalledCertificateIdsResponse,
  InstallCertificateRequest,
  InstallCertificateResponse,
} from '../../ocpp/v201/types.js';
import { asJson } from '../../json.js';
import type { CertificateUseEnumType as CertificateUse16 } from '../../ocpp/v16/types.js';
import type { BlockModule, StationHandle, StationServices } from '../../station/types.js';

/**
 * What a station reports of its installed certificates (M03 GetInstalledCertificateIds, M04
 * DeleteCertificate, M05 InstallCertificate), kept per station and shown on GET station as
 * `certificates`: `installed` is the last reported hash data per certificate type, `history` the outcome of
 * the last operations.
 */

interface CertificateInventory {
  installed: CertificateHashDataChainType[];
  reportedAt?: string;
  history: { action: string; status: string; at: string; certificateType?: string; serialNumber?: string }[];
}

const HISTORY_LENGTH = 20;

function sameCertificate(a: CertificateHashDataType, b: CertificateHashDataType): boolean {
  return (
    a.hashAlgorithm === b.hashAlgorithm &&
    a.issuerNameHash.toLowerCase() === b.issuerNameHash.toLowerCase() &&
    a.issuerKeyHash.toLowerCase() === b.issuerKeyHash.toLowerCase() &&
    a.serialNumber.toLowerCase() === b.serialNumber.toLowerCase()
  );
}

async function update(station: StationHandle, services: StationServices, change: (inventory: CertificateInventory, at: string) => void): Promise<void> {
  const current = (await services.store.getStation(station.stationId))?.certificates as unknown as CertificateInventory | undefined;
  const inventory: CertificateInventory = {
    installed: current?.installed ?? [],
    history: current?.history ?? [],
    ...(current?.reportedAt ? { reportedAt: current.reportedAt } : {}),
  };
  const at = new Date(services.clock.now()).toISOString();
  change(inventory, at);
  inventory.history = inventory.history.slice(-HISTORY_LENGTH);
  await services.store.recordCertificates(station.stationId, asJson(inventory));
}

async function learnInstalled(
  station: StationHandle,
  request: GetInstalledCertificateIdsRequest,
  response: GetInstalledCertificateIdsResponse,
  services: StationServices,
): Promise<void> {
  await update(station, services, (inventory, at) => {
    // The answer covers the requested types (all of them when none was named): replace exactly those.
    const types = request.certificateType;
    const kept = types === undefined ? [] : inventory.installed.filter((chain) => !types.includes(chain.certificateType));
    inventory.installed = [...kept, ...(response.status === 'Accepted' ? (response.certificateHashDataChain ?? []) : [])];
    inventory.reportedAt = at;
    inventory.history.push({ action: 'GetInstalledCertificateIds', status: response.status, at });
  });
}

async function learnInstall(station: StationHandle, request: InstallCertificateRequest, response: InstallCertificateResponse, services: StationServices): Promise<void> {
  await update(station, services, (inventory, at) => {
    inventory.history.push({ action: 'InstallCertificate', status: response.status, at, certificateType: request.certificateType });
  });
}

async function learnDelete(station: StationHandle, request: DeleteCertificateRequest, response: DeleteCertificateResponse, services: StationServices): Promise<void> {
  await update(station, services, (inventory, at) => {
    if (response.status === 'Accepted') {
      inventory.installed = inventory.installed.filter((chain) => !sameCertificate(chain.certificateHashData, request.certificateHashData));
    }
    inventory.history.push({ action: 'DeleteCertificate', status: response.status, at, serialNumber: request.certificateHashData.serialNumber });
  });
}

export const certificateInventoryHooks: NonNullable<BlockModule['resultHooks']> = {
  GetInstalledCertificateIds: learnInstalled,
  InstallCertificate: learnInstall,
  DeleteCertificate: learnDelete,
};

/** The Security Extension names the CSMS root after 1.6's Central System; the inventory keeps the 2.0.1 name. */
function certificateUse16(type: CertificateUse16): 'CSMSRootCertificate' | 'ManufacturerRootCertificate' {
  return type === 'CentralSystemRootCertificate' ? 'CSMSRootCertificate' : type;
}

/** The same inventory for a 1.6 station (Security Extension §3.2): one certificate type per request, no chains. */
export const certificateInventoryHooks16: NonNullable<NonNullable<BlockModule['v16']>['resultHooks']> = {
  GetInstalledCertificateIds: (station, request, response, services) =>
    update(station, services, (inventory, at) => {
      const certificateType = certificateUse16(request.certificateType);
      const kept = inventory.installed.filter((chain) => chain.certificateType !== certificateType);
      const reported =
        response.status === 'Accepted' ? (response.certificateHashData ?? []).map((certificateHashData) => ({ certificateType, certificateHashData })) : [];
      inventory.installed = [...kept, ...reported];
      inventory.reportedAt = at;
      inventory.history.push({ action: 'GetInstalledCertificateIds', status: response.status, at });
    }),
  InstallCertificate: (station, request, response, services) =>
    learnInstall(station, { certificateType: certificateUse16(request.certificateType), certificate: request.certificate }, response, services),
  DeleteCertificate: learnDelete,
};
