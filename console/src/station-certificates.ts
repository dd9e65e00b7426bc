import { get, stationPath, type JsonObject } from './api.js';
import { badge, h, section, statusTone, text, when } from './dom.js';

/**
 * The station page's certificates (CONTRACT §3.2, §8.6): what the station reports it has installed, by type — the
 * V2G, MO and OEM roots, the CSMS root, the manufacturer root and the station's own V2G chain with its sub-CAs —
 * from its GetInstalledCertificateIds / InstallCertificate / DeleteCertificate answers; the certificates the CSMS
 * signed for it with their expiry; and the last SignCertificate outcome with its certificate type.
 */

interface HashData {
  hashAlgorithm: string;
  issuerNameHash: string;
  issuerKeyHash: string;
  serialNumber: string;
}

interface InstalledCertificate {
  certificateType: string;
  certificateHashData: HashData;
  childCertificateHashData?: HashData[];
}

interface Inventory {
  installed?: InstalledCertificate[];
  reportedAt?: string;
  history?: { action: string; status: string; at: string; certificateType?: string; serialNumber?: string }[];
}

interface Signing {
  status: string;
  at: string;
  certificateType: string;
  serialNumber?: string;
  reason?: string;
  attempts?: number;
}

interface IssuedCertificate {
  serialNumber: string;
  certificateType: string;
  status: string;
  notAfter: string;
}

/** How OCPP 2.0.1 names the installed types (GetCertificateIdUseEnumType), in the order an operator reads them. */
const TYPE_LABELS: Record<string, string> = {
  V2GRootCertificate: 'V2G root',
  MORootCertificate: 'MO root',
  OEMRootCertificate: 'OEM root',
  CSMSRootCertificate: 'CSMS root',
  ManufacturerRootCertificate: 'Manufacturer root',
  V2GCertificateChain: 'Station V2G chain',
};

function typeLabel(type: string): string {
  return TYPE_LABELS[type] ?? type;
}

function typeOrder(type: string): number {
  const index = Object.keys(TYPE_LABELS).indexOf(type);
  return index === -1 ? Number.MAX_SAFE_INTEGER : index;
}

/** Hashes are long hex strings: the start is enough to tell certificates apart on screen; the title holds all. */
function short(hex: string): HTMLElement {
  return h('code', { title: hex }, hex.length > 12 ? `${hex.slice(0, 12)}…` : hex);
}

function signingTone(status: string): 'ok' | 'warn' | 'bad' | 'muted' {
  if (status === 'Accepted') return 'ok';
  if (status === 'Signing' || status === 'Issued') return 'warn';
  return 'bad';
}

function installedTable(inventory: Inventory | null): HTMLElement {
  const installed = [...(inventory?.installed ?? [])].sort((a, b) => typeOrder(a.certificateType) - typeOrder(b.certificateType));
  if (installed.length === 0) {
    return h('p', { class: 'muted', id: 'installed-certificates' }, 'No installed certificates reported yet (GetInstalledCertificateIds asks the station).');
  }
  return h(
    'table',
    { id: 'installed-certificates' },
    h('caption', {}, `Installed on the station${inventory?.reportedAt === undefined ? '' : `, reported ${when(inventory.reportedAt)}`}`),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'Type'),
        h('th', { scope: 'col' }, 'Serial'),
        h('th', { scope: 'col' }, 'Issuer name hash'),
        h('th', { scope: 'col' }, 'Sub-CAs'),
      ),
    ),
    h(
      'tbody',
      {},
      ...installed.map((c) =>
        h(
          'tr',
          { 'data-type': c.certificateType },
          h('td', {}, typeLabel(c.certificateType)),
          h('td', {}, h('code', {}, c.certificateHashData.serialNumber)),
          h('td', {}, short(c.certificateHashData.issuerNameHash)),
          h(
            'td',
            {},
            c.childCertificateHashData === undefined || c.childCertificateHashData.length === 0
              ? '—'
              : c.childCertificateHashData.map((child) => child.serialNumber).join(', '),
          ),
        ),
      ),
    ),
  );
}

function signingFacts(signing: Signing | null): HTMLElement {
  if (signing === null) return h('p', { class: 'muted', id: 'certificate-signing' }, 'No certificate signed for this station yet.');
  return h(
    'p',
    { id: 'certificate-signing' },
    'Last signing: ',
    badge(signing.status, signingTone(signing.status)),
    ` ${typeLabel(signing.certificateType)} (${signing.certificateType})`,
    signing.serialNumber === undefined ? '' : h('span', {}, ' serial ', h('code', {}, signing.serialNumber)),
    ` at ${when(signing.at)}`,
    signing.attempts === undefined ? '' : `, ${signing.attempts} delivery attempt${signing.attempts === 1 ? '' : 's'}`,
    signing.reason === undefined ? '' : ` — ${signing.reason}`,
  );
}

function issuedList(items: readonly IssuedCertificate[]): HTMLElement {
  if (items.length === 0) return h('p', { class: 'muted', id: 'issued-certificates' }, 'The CSMS has issued no certificate to this station.');
  return h(
    'table',
    { id: 'issued-certificates' },
    h('caption', {}, 'Signed by the CSMS'),
    h(
      'thead',
      {},
      h('tr', {}, h('th', { scope: 'col' }, 'Type'), h('th', { scope: 'col' }, 'Serial'), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col' }, 'Expires')),
    ),
    h(
      'tbody',
      {},
      ...items.map((c) =>
        h(
          'tr',
          {},
          h('td', {}, c.certificateType),
          h('td', {}, h('code', {}, c.serialNumber)),
          h('td', {}, badge(c.status, c.status === 'Valid' ? 'ok' : statusTone(c.status))),
          h('td', {}, when(c.notAfter)),
        ),
      ),
    ),
  );
}

function historyList(inventory: Inventory | null): HTMLElement {
  const history = [...(inventory?.history ?? [])].reverse().slice(0, 5);
  if (history.length === 0) return h('span', {});
  return h(
    'details',
    {},
    h('summary', {}, 'Recent certificate operations'),
    h(
      'ul',
      {},
      ...history.map((entry) =>
        h(
          'li',
          {},
          `${when(entry.at)} ${entry.action} `,
          badge(entry.status, statusTone(entry.status)),
          ` ${text(entry.certificateType)}${entry.serialNumber === undefined ? '' : ` ${entry.serialNumber}`}`,
        ),
      ),
    ),
  );
}

/** The section, built from the station view (inventory and signing) and GET …/certificates (what the CSMS issued). */
export async function certificatesSection(stationId: string, inventory: JsonObject | null, signing: JsonObject | null): Promise<HTMLElement> {
  const issued = await get<{ items: IssuedCertificate[] }>(`${stationPath(stationId)}/certificates`);
  return section(
    'Certificates',
    'certificates',
    signingFacts(signing as unknown as Signing | null),
    installedTable(inventory),
    issuedList(issued.ok ? issued.body.items : []),
    historyList(inventory),
  );
}
