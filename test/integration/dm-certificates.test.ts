/**
 * Certificate management (M03/M04/M05): TC_M_01, M_02, M_05 (InstallCertificate), TC_M_13, M_18, M_19
 * (GetInstalledCertificateIds), TC_M_20 for SHA256/384/512 and TC_M_21 (DeleteCertificate with exactly the hash
 * data the station reported). Certificates are generated at test time; hash data is computed from them.
 */
import { describe, expect, it } from 'vitest';
import { withCsms } from '../support/csms.js';
import { named, roundTrip, testCertificate, type HashAlgorithm } from '../support/device.js';
import type { Payload } from '../support/station.js';

const h = withCsms({ CSMS_CALL_TIMEOUT_MS: 5000 });

const INSTALL_CASES = [
  { id: 'TC_M_01', certificateType: 'CSMSRootCertificate', status: 'Accepted' },
  { id: 'TC_M_02', certificateType: 'ManufacturerRootCertificate', status: 'Accepted' },
  { id: 'TC_M_05', certificateType: 'CSMSRootCertificate', status: 'Failed' },
  { id: 'InstallCertificate Rejected', certificateType: 'MORootCertificate', status: 'Rejected' },
  { id: 'InstallCertificate V2G root', certificateType: 'V2GRootCertificate', status: 'Accepted' },
];

describe('InstallCertificate', () => {
  it.each(named(INSTALL_CASES, (c) => `${c.id}: installs a ${c.certificateType} byte for byte; the ${c.status} answer reaches the operator`))('%s', async (_, c) => {
    const station = await h.csms.bootedStation({ prefix: c.id.replace(/[^A-Za-z0-9_]/g, '-').slice(0, 16) });
    const cert = testCertificate(`Stroom ${c.certificateType}`);
    station.onCall('InstallCertificate', () => ({ status: c.status }));
    const { call } = await roundTrip(h.csms, station, 'InstallCertificate', { certificateType: c.certificateType, certificate: cert.pem }, { status: c.status });
    expect(call.payload.certificateType).toBe(c.certificateType);
    expect(call.payload.certificate).toBe(cert.pem);
  });
});

describe('GetInstalledCertificateIds', () => {
  const chainEntry = (certificateType: string, name: string, alg: HashAlgorithm = 'SHA256'): Payload => ({
    certificateType,
    certificateHashData: testCertificate(name).hashData(alg),
  });

  it('TC_M_13: asks for ManufacturerRootCertificate and returns the reported hash chain unchanged', async () => {
    const station = await h.csms.bootedStation({ prefix: 'M13' });
    const answer = { status: 'Accepted', certificateHashDataChain: [chainEntry('ManufacturerRootCertificate', 'Stroom Manufacturer Root')] };
    station.onCall('GetInstalledCertificateIds', () => answer);
    const { call } = await roundTrip(h.csms, station, 'GetInstalledCertificateIds', { certificateType: ['ManufacturerRootCertificate'] }, answer);
    expect(call.payload.certificateType).toContain('ManufacturerRootCertificate');
  });

  it('TC_M_18: without certificateType (all types) and returns every reported hash, child hashes included', async () => {
    const station = await h.csms.bootedStation({ prefix: 'M18' });
    const answer = {
      status: 'Accepted',
      certificateHashDataChain: [
        chainEntry('CSMSRootCertificate', 'Stroom CSMS Root'),
        chainEntry('ManufacturerRootCertificate', 'Stroom Manufacturer Root', 'SHA384'),
        chainEntry('MORootCertificate', 'Stroom MO Root', 'SHA512'),
        {
          ...chainEntry('V2GCertificateChain', 'Stroom V2G leaf'),
          childCertificateHashData: [testCertificate('Stroom V2G sub-CA').hashData('SHA256')],
        },
      ],
    };
    station.onCall('GetInstalledCertificateIds', () => answer);
    const { call } = await roundTrip(h.csms, station, 'GetInstalledCertificateIds', {}, answer);
    expect(call.payload).toEqual({});
  });

  it('TC_M_19: NotFound with the chain omitted reaches the operator as is', async () => {
    const station = await h.csms.bootedStation({ prefix: 'M19' });
    station.onCall('GetInstalledCertificateIds', () => ({ status: 'NotFound' }));
    await roundTrip(h.csms, station, 'GetInstalledCertificateIds', { certificateType: ['ManufacturerRootCertificate'] }, { status: 'NotFound' });
  });
});

describe('DeleteCertificate', () => {
  const DELETE_CASES = [
    { id: 'TC_M_20', alg: 'SHA256' as HashAlgorithm, status: 'Accepted' },
    { id: 'TC_M_20', alg: 'SHA384' as HashAlgorithm, status: 'Accepted' },
    { id: 'TC_M_20', alg: 'SHA512' as HashAlgorithm, status: 'Accepted' },
    { id: 'TC_M_21', alg: 'SHA256' as HashAlgorithm, status: 'Failed' },
    { id: 'DeleteCertificate NotFound', alg: 'SHA256' as HashAlgorithm, status: 'NotFound' },
  ];

  it.each(named(DELETE_CASES, (c) => `${c.id} (${c.alg}): deletes with exactly the hash data the station reported; answered ${c.status}`))('%s', async (_, c) => {
    const station = await h.csms.bootedStation({ prefix: `${c.id}-${c.alg}`.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 18) });
    const cert = testCertificate('Stroom CSMS Root to delete');
    station.onCall('InstallCertificate', () => ({ status: 'Accepted' }));
    await roundTrip(h.csms, station, 'InstallCertificate', { certificateType: 'CSMSRootCertificate', certificate: cert.pem }, { status: 'Accepted' });

    const reported = cert.hashData(c.alg);
    expect(reported.issuerNameHash).toHaveLength({ SHA256: 64, SHA384: 96, SHA512: 128 }[c.alg]);
    const installed = { status: 'Accepted', certificateHashDataChain: [{ certificateType: 'CSMSRootCertificate', certificateHashData: reported }] };
    station.onCall('GetInstalledCertificateIds', () => installed);
    const { response } = await roundTrip(h.csms, station, 'GetInstalledCertificateIds', { certificateType: ['CSMSRootCertificate'] }, installed);

    // The operator deletes with what the station reported (through the API answer), nothing recomputed.
    const fromOperator = (response.certificateHashDataChain as Array<{ certificateHashData: Payload }>)[0]!.certificateHashData;
    station.onCall('DeleteCertificate', () => ({ status: c.status }));
    const { call } = await roundTrip(h.csms, station, 'DeleteCertificate', { certificateHashData: fromOperator }, { status: c.status });
    expect(call.payload).toEqual({ certificateHashData: reported });
  });
});

interface CertificateInventoryView {
  installed: Payload[];
  history: { action: string; status: string }[];
}

describe('what the station reported is kept per station', () => {
  const chainEntry = (certificateType: string, name: string): Payload => ({ certificateType, certificateHashData: testCertificate(name).hashData('SHA256') });

  it('GET station shows the installed certificates from GetInstalledCertificateIds, minus those deleted, and the history', async () => {
    const station = await h.csms.bootedStation({ prefix: 'M-inventory' });
    const root = chainEntry('CSMSRootCertificate', 'Stroom inventory root');
    const manufacturer = chainEntry('ManufacturerRootCertificate', 'Stroom inventory manufacturer');
    station.onCall('GetInstalledCertificateIds', () => ({ status: 'Accepted', certificateHashDataChain: [root, manufacturer] }));
    await roundTrip(h.csms, station, 'GetInstalledCertificateIds', {}, { status: 'Accepted', certificateHashDataChain: [root, manufacturer] });
    let view = await h.csms.api.getStation(station.identity);
    expect((view.body.certificates as CertificateInventoryView).installed).toEqual([root, manufacturer]);

    station.onCall('DeleteCertificate', () => ({ status: 'Accepted' }));
    await roundTrip(h.csms, station, 'DeleteCertificate', { certificateHashData: root.certificateHashData }, { status: 'Accepted' });
    station.onCall('InstallCertificate', () => ({ status: 'Rejected' }));
    await roundTrip(
      h.csms,
      station,
      'InstallCertificate',
      { certificateType: 'MORootCertificate', certificate: testCertificate('Stroom MO').pem },
      { status: 'Rejected' },
    );
    view = await h.csms.api.getStation(station.identity);
    expect((view.body.certificates as CertificateInventoryView).installed).toEqual([manufacturer]);
    expect((view.body.certificates as CertificateInventoryView).history.map((entry) => `${entry.action}:${entry.status}`)).toEqual([
      'GetInstalledCertificateIds:Accepted',
      'DeleteCertificate:Accepted',
      'InstallCertificate:Rejected',
    ]);
  });
});
