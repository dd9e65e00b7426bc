import { BlockList, isIP } from 'node:net';
import { ConfigError } from '../config.js';
import type { VerifiedClientCertificate } from '../station/admission.js';

/**
 * Running behind a TLS-terminating proxy (see haproxy.example.cfg): the proxy does TLS and client
 * certificate verification, and tells us the outcome in request headers. Those headers are believed only
 * from the proxy's own addresses (CSMS_TRUSTED_PROXIES); from anyone else they are a forgery attempt and
 * the upgrade is refused.
 */
export const PROXY_HEADERS = {
  /** `SUCCESS` when the proxy verified a client certificate against the client CA (nginx's $ssl_client_verify). */
  verified: 'x-client-cert-verified',
  commonName: 'x-client-cert-cn',
  organization: 'x-client-cert-o',
  serialNumber: 'x-client-cert-serial',
  /** `https` when the station reached the proxy over TLS. */
  proto: 'x-forwarded-proto',
  /** The station's address; the last entry is the one our proxy saw. */
  forwardedFor: 'x-forwarded-for',
} as const;

/** Headers that claim something about a client certificate: a station has no business sending them. */
const CERTIFICATE_HEADERS = [PROXY_HEADERS.verified, PROXY_HEADERS.commonName, PROXY_HEADERS.organization, PROXY_HEADERS.serialNumber] as const;

export type ProxyHeaderName = (typeof PROXY_HEADERS)[keyof typeof PROXY_HEADERS];
export type ProxyHeaders = Partial<Record<ProxyHeaderName, string>>;

/** The 8 groups of an IPv6 address (`::` expanded, a dotted IPv4 tail split into two groups), or undefined. */
function ipv6Groups(address: string): number[] | undefined {
  if (isIP(address) !== 6) return undefined;
  let text = address.replace(/%.*$/, '');
  const dotted = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array<string>(Math.max(0, zeros)).fill('0'), ...tailGroups].map((group) => parseInt(group, 16));
  return groups.length === 8 && groups.every((group) => group >= 0 && group <= 0xffff) ? groups : undefined;
}

/**
 * IPv4-mapped IPv6 addresses become plain IPv4 (`::ffff:10.0.0.1`, and uWS's expanded
 * `0000:…:ffff:0a00:0001` on a dual-stack socket), so one CIDR list serves both socket kinds.
 */
export function normalizeAddress(address: string): string {
  const groups = ipv6Groups(address);
  if (groups === undefined || groups.slice(0, 5).some((group) => group !== 0) || groups[5] !== 0xffff) return address;
  const [high = 0, low = 0] = groups.slice(6);
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

/** The addresses (and CIDR ranges, IPv4 and IPv6) of TLS-terminating proxies whose headers we believe. */
export class TrustedProxies {
  private constructor(
    private readonly list: BlockList,
    readonly entries: readonly string[],
  ) {}

  static none(): TrustedProxies {
    return new TrustedProxies(new BlockList(), []);
  }

  /** Parses CSMS_TRUSTED_PROXIES entries: `10.0.0.5`, `10.0.0.0/8`, `::1`, `fd00::/8`. */
  static parse(entries: readonly string[]): TrustedProxies {
    const list = new BlockList();
    for (const entry of entries) {
      const [address = '', prefixText, extra] = entry.split('/');
      const family = isIP(address);
      if (family === 0 || extra !== undefined) throw new ConfigError('CSMS_TRUSTED_PROXIES', `"${entry}" is not an IP address or CIDR range`);
      const type = family === 4 ? 'ipv4' : 'ipv6';
      if (prefixText === undefined) {
        list.addAddress(address, type);
        continue;
      }
      const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : -1;
      if (prefix < 0 || prefix > (family === 4 ? 32 : 128)) throw new ConfigError('CSMS_TRUSTED_PROXIES', `"${entry}" has an invalid prefix length`);
      list.addSubnet(address, prefix, type);
    }
    return new TrustedProxies(list, [...entries]);
  }

  /**
   * Entries that cover more than a handful of addresses (wider than /28 for IPv4, /124 for IPv6), or undefined
   * when the whole list covers at most 16 addresses. Every address in the list may claim a verified client
   * certificate in a header, so a station inside a wide range could forge one.
   */
  wideRanges(): { ranges: string[]; addresses: bigint } | undefined {
    let addresses = 0n;
    const ranges: string[] = [];
    for (const entry of this.entries) {
      const [address = '', prefixText] = entry.split('/');
      const bits = isIP(address) === 4 ? 32 : 128;
      const prefix = prefixText === undefined ? bits : Number(prefixText);
      addresses += 1n << BigInt(bits - prefix);
      if (bits - prefix > 4) ranges.push(entry);
    }
    return ranges.length > 0 || addresses > 16n ? { ranges: ranges.length > 0 ? ranges : [...this.entries], addresses } : undefined;
  }

  get isEmpty(): boolean {
    return this.entries.length === 0;
  }

  has(address: string): boolean {
    if (this.entries.length === 0) return false;
    const normalized = normalizeAddress(address);
    const family = isIP(normalized);
    if (family === 0) return false;
    return this.list.check(normalized, family === 4 ? 'ipv4' : 'ipv6');
  }
}

/** How a connection reached us, as far as proxies are concerned. */
export type ProxyView =
  /** Straight from the station (or through a proxy we do not trust, whose headers we ignore). */
  | { kind: 'direct'; remoteAddress: string }
  /** Through a trusted proxy: the station's address and what the proxy verified. */
  | { kind: 'proxied'; remoteAddress: string; proxyAddress: string; tls: boolean; clientCertificate: VerifiedClientCertificate | undefined }
  /** Client-certificate headers from an address that is not a trusted proxy: refuse. */
  | { kind: 'forged'; remoteAddress: string; headers: string[] };

function clean(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  return trimmed.length > 0 ? trimmed : undefined;
}

/** The last address in X-Forwarded-For: the one our trusted proxy appended (earlier ones are the client's say-so). */
function lastForwarded(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const parts = value.split(',');
  const last = clean(parts[parts.length - 1]);
  return last !== undefined && isIP(normalizeAddress(last)) !== 0 ? normalizeAddress(last) : undefined;
}

/**
 * Reads the proxy headers of an upgrade request coming from `remoteAddress`. Transport-neutral: the caller
 * hands in the header values (uWS and Node read headers differently).
 */
export function viewThroughProxy(socketAddress: string, headers: ProxyHeaders, trusted: TrustedProxies): ProxyView {
  const remoteAddress = normalizeAddress(socketAddress);
  if (!trusted.has(remoteAddress)) {
    const present = CERTIFICATE_HEADERS.filter((name) => headers[name] !== undefined);
    return present.length > 0 ? { kind: 'forged', remoteAddress, headers: present } : { kind: 'direct', remoteAddress };
  }
  const tls = clean(headers[PROXY_HEADERS.proto])?.toLowerCase() === 'https';
  const verified = tls && clean(headers[PROXY_HEADERS.verified]) === 'SUCCESS';
  const commonName = clean(headers[PROXY_HEADERS.commonName]);
  return {
    kind: 'proxied',
    remoteAddress: lastForwarded(headers[PROXY_HEADERS.forwardedFor]) ?? remoteAddress,
    proxyAddress: remoteAddress,
    tls,
    clientCertificate:
      verified && commonName !== undefined
        ? {
            commonName,
            organization: clean(headers[PROXY_HEADERS.organization]),
            serialNumber: clean(headers[PROXY_HEADERS.serialNumber])?.toLowerCase(),
            verifiedBy: 'proxy',
          }
        : undefined,
  };
}
