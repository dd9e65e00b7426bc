import { describe, expect, it } from 'vitest';
import { OcppProtocols } from '../../src/ocpp/protocol.js';
import { ocpp16 } from '../../src/ocpp/v16/index.js';
import { ocpp201 } from '../../src/ocpp/v201/index.js';

/**
 * The OCPP 1.6J adapter (CONTRACT §3, §3.1): its official schemas, its error-code spellings, and the choice of a
 * version among those a station offers, with and without the registration's pin.
 */
describe('OCPP 1.6J protocol adapter', () => {
  const v16 = ocpp16();
  const v201 = ocpp201();
  const protocols = new OcppProtocols([v201, v16]);

  it('loads the 78 official 1.6 schemas (Security Extension included): 39 actions, each request and response', () => {
    expect(v16.schemas.size).toBe(78);
    for (const action of [...v16.csmsActions, 'BootNotification', 'StartTransaction', 'SecurityEventNotification', 'SignedFirmwareStatusNotification']) {
      expect(v16.schemas.check(action, 'Request', { surely: 'not valid' }), action).toBeDefined();
    }
    expect(v16.schemas.check('BootNotification', 'Request', { chargePointVendor: 'V', chargePointModel: 'M' })).toBeUndefined();
    expect(v16.schemas.check('TransactionEvent', 'Request', {})?.code).toBe('NotImplemented');
  });

  it('spells error codes the 1.6 way on the wire and reads them back in the one spelling the CSMS uses', () => {
    const missing = v16.schemas.check('Authorize', 'Request', {});
    const tooLong = v16.schemas.check('Authorize', 'Request', { idTag: 'X'.repeat(21) });
    expect(missing?.code).toBe('OccurrenceConstraintViolation');
    expect(tooLong?.code).toBe('FormatViolation');
    expect(v16.errorCode('OccurrenceConstraintViolation')).toBe('OccurenceConstraintViolation');
    expect(v16.errorCode('FormatViolation')).toBe('FormationViolation');
    expect(v16.errorCode('RpcFrameworkError')).toBe('GenericError');
    expect(v16.errorCode('SecurityError')).toBe('SecurityError');
    expect(v16.readErrorCode('FormationViolation')).toBe('FormatViolation');
    expect(v16.readErrorCode('OccurenceConstraintViolation')).toBe('OccurrenceConstraintViolation');
    expect(v201.errorCode('FormatViolation')).toBe('FormatViolation');
  });

  it('picks the highest version offered, or the pinned one, or none', () => {
    expect(protocols.select('ocpp1.6, ocpp2.0.1')?.version).toBe('2.0.1');
    expect(protocols.select('ocpp1.6')?.version).toBe('1.6');
    expect(protocols.select('ocpp1.6,ocpp2.0.1', '1.6')?.version).toBe('1.6');
    expect(protocols.select('ocpp2.0.1', '1.6')).toBeUndefined();
    expect(protocols.select('ocpp1.5,ocpp2.1')).toBeUndefined();
    expect(protocols.select(undefined)).toBeUndefined();
  });

  it('knows which side initiates each 1.6 action, and what a trigger asks for', () => {
    expect(v16.isStationAction('StartTransaction') && v16.isCsmsAction('RemoteStartTransaction')).toBe(true);
    expect(v16.isStationAction('TransactionEvent') || v16.isCsmsAction('RequestStartTransaction')).toBe(false);
    expect(v16.csmsActions).toHaveLength(26);
    expect(v16.triggeredAction('TriggerMessage', { requestedMessage: 'DiagnosticsStatusNotification' })).toBe('DiagnosticsStatusNotification');
    expect(v16.triggeredAction('ExtendedTriggerMessage', { requestedMessage: 'SignChargePointCertificate' })).toBe('SignCertificate');
    expect(v16.triggeredAction('ChangeConfiguration', { requestedMessage: 'Heartbeat' })).toBeUndefined();
    expect(v16.inventoryRequest(7)).toEqual({ action: 'GetConfiguration', payload: {}, answeredInResult: true });
  });
});
