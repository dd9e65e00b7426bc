/**
 * The pure rules behind the security features, one by one: which addresses count as trusted proxies (IPv4,
 * IPv6, CIDR, IPv4-mapped forms as uWS reports them), what a proxied or forged request proves, DRV-A05-01's
 * SetNetworkProfile check, and B01.FR.11/12's serial-number comparison.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.js';
import { bootSerialNumberMismatch } from '../../src/blocks/security/certificates.js';
import { checkNetworkProfileCommand } from '../../src/blocks/security/network-profile.js';
import { TrustedProxies, normalizeAddress, viewThroughProxy } from '../../src/transport/proxy.js';

describe('trusted proxies (CSMS_TRUSTED_PROXIES)', () => {
  const trusted = TrustedProxies.parse(['10.0.0.0/8', '192.0.2.7', '::1', 'fd00:abcd::/32']);

  it('matches addresses and CIDR ranges, IPv4 and IPv6', () => {
    expect(trusted.has('10.1.2.3')).toBe(true);
    expect(trusted.has('11.0.0.1')).toBe(false);
    expect(trusted.has('192.0.2.7')).toBe(true);
    expect(trusted.has('192.0.2.8')).toBe(false);
    expect(trusted.has('::1')).toBe(true);
    expect(trusted.has('fd00:abcd:1::5')).toBe(true);
    expect(trusted.has('fd00:abce::5')).toBe(false);
    expect(trusted.has('not an address')).toBe(false);
  });

  it("treats IPv4-mapped IPv6 addresses (also uWS's expanded form) as the IPv4 address", () => {
    expect(normalizeAddress('::ffff:10.9.8.7')).toBe('10.9.8.7');
    expect(normalizeAddress('0000:0000:0000:0000:0000:ffff:0a09:0807')).toBe('10.9.8.7');
    expect(normalizeAddress('0000:0000:0000:0000:0000:0000:0000:0001')).toBe('0000:0000:0000:0000:0000:0000:0000:0001');
    expect(trusted.has('0000:0000:0000:0000:0000:ffff:0a00:0001')).toBe(true);
    expect(trusted.has('0000:0000:0000:0000:0000:0000:0000:0001')).toBe(true);
  });

  it('refuses entries that are not addresses or ranges, naming the key', () => {
    for (const entry of ['10.0.0.0/33', 'example.com', '10.0.0.1/8/8', '::1/129', '10.0.0.0/']) {
      expect(() => TrustedProxies.parse([entry]), entry).toThrow(ConfigError);
      expect(() => TrustedProxies.parse([entry]), entry).toThrow(/CSMS_TRUSTED_PROXIES/);
    }
  });

  it('believes the certificate headers of a trusted proxy only when it says SUCCESS over TLS', () => {
    const headers = {
      'x-forwarded-proto': 'https',
      'x-client-cert-verified': 'SUCCESS',
      'x-client-cert-cn': 'CS1',
      'x-client-cert-o': 'CSO',
      'x-client-cert-serial': 'AB01',
      'x-forwarded-for': '198.51.100.1, 203.0.113.9',
    };
    expect(viewThroughProxy('10.0.0.5', headers, trusted)).toEqual({
      kind: 'proxied',
      remoteAddress: '203.0.113.9',
      proxyAddress: '10.0.0.5',
      tls: true,
      clientCertificate: { commonName: 'CS1', organization: 'CSO', serialNumber: 'ab01', verifiedBy: 'proxy' },
    });
    expect(viewThroughProxy('10.0.0.5', { ...headers, 'x-client-cert-verified': 'FAILED:certificate has expired' }, trusted)).toMatchObject({
      kind: 'proxied',
      clientCertificate: undefined,
    });
    expect(viewThroughProxy('10.0.0.5', { ...headers, 'x-forwarded-proto': 'http' }, trusted)).toMatchObject({
      kind: 'proxied',
      tls: false,
      clientCertificate: undefined,
    });
  });

  it('calls certificate headers from anyone else forged, and ignores their X-Forwarded-* headers', () => {
    expect(viewThroughProxy('203.0.113.50', { 'x-client-cert-cn': 'CS1', 'x-client-cert-verified': 'SUCCESS' }, trusted)).toEqual({
      kind: 'forged',
      remoteAddress: '203.0.113.50',
      headers: ['x-client-cert-verified', 'x-client-cert-cn'],
    });
    expect(viewThroughProxy('203.0.113.50', { 'x-forwarded-proto': 'https', 'x-forwarded-for': '10.0.0.5' }, trusted)).toEqual({
      kind: 'direct',
      remoteAddress: '203.0.113.50',
    });
    expect(viewThroughProxy('10.0.0.5', {}, TrustedProxies.none())).toEqual({ kind: 'direct', remoteAddress: '10.0.0.5' });
  });
});

describe('DRV-A05-01: checkNetworkProfileCommand', () => {
  const payload = (securityProfile: number): { connectionData: { securityProfile: number } } => ({ connectionData: { securityProfile } });

  it('refuses a lower profile than registered, and profiles that do not exist', () => {
    expect(checkNetworkProfileCommand({ id: 'CS1', securityProfile: 2 }, payload(1))).toMatch(/never lowers/);
    expect(checkNetworkProfileCommand({ id: 'CS1', securityProfile: 3 }, payload(2))).toMatch(/security profile 3/);
    expect(checkNetworkProfileCommand({ id: 'CS1', securityProfile: 1 }, payload(0))).toMatch(/does not exist/);
    expect(checkNetworkProfileCommand({ id: 'CS1', securityProfile: 1 }, payload(4))).toMatch(/does not exist/);
  });

  it('allows the same or a higher profile', () => {
    expect(checkNetworkProfileCommand({ id: 'CS1', securityProfile: 2 }, payload(2))).toBeUndefined();
    expect(checkNetworkProfileCommand({ id: 'CS1', securityProfile: 1 }, payload(3))).toBeUndefined();
  });
});

describe('B01.FR.11/12: bootSerialNumberMismatch', () => {
  const certificate = { commonName: 'CS-0042', serialNumber: '0a1b', verifiedBy: 'tls' as const };

  it('compares the serialNumber with the certificate CN on profile 3 only', () => {
    expect(bootSerialNumberMismatch(certificate, { serialNumber: 'CS-0042' })).toBeUndefined();
    expect(bootSerialNumberMismatch(certificate, { serialNumber: 'CS-0043' })).toMatch(/does not match the client certificate CN "CS-0042"/);
    expect(bootSerialNumberMismatch(undefined, { serialNumber: 'anything' })).toBeUndefined();
    expect(bootSerialNumberMismatch(certificate, {})).toBeUndefined();
  });
});
