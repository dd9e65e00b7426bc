import { describe, expect, it } from 'vitest';
import { CSMS_INITIATED, STATION_INITIATED } from '../../src/ocpp/v201/actions.js';
import { errorCodeForSchemaKeyword } from '../../src/ocpp/errors.js';
import { FrameError, parseFrame, serializeCallError } from '../../src/ocpp/frame.js';
import { OCPP_ACTIONS } from '../../src/ocpp/v201/types.js';
import { loadV201Schemas } from '../../src/ocpp/v201/index.js';

const schemas = loadV201Schemas();

function frameError(text: string): FrameError {
  try {
    parseFrame(text);
  } catch (err) {
    return err as FrameError;
  }
  throw new Error('expected a FrameError');
}

describe('OCPP-J framing (Part 4 §4)', () => {
  it('parses CALL, CALLRESULT and CALLERROR', () => {
    expect(parseFrame('[2,"a","Heartbeat",{}]')).toEqual({ type: 2, messageId: 'a', action: 'Heartbeat', payload: {} });
    expect(parseFrame('[3,"a",{"x":1}]')).toEqual({ type: 3, messageId: 'a', payload: { x: 1 } });
    expect(parseFrame('[4,"a","NotSupported","no",{}]')).toMatchObject({ type: 4, code: 'NotSupported', description: 'no' });
  });

  it('DRV-RPC-07: an unreadable frame is answered with messageId "-1" and no echo of the input', () => {
    const error = frameError('{not json');
    expect(error.messageId).toBe('-1');
    expect(error.code).toBe('RpcFrameworkError');
    expect(error.message).not.toContain('not json');
  });

  it('DRV-RPC-08: an unknown message type is MessageTypeNotSupported with the readable id', () => {
    const error = frameError('[5,"id-1",{}]');
    expect(error.code).toBe('MessageTypeNotSupported');
    expect(error.messageId).toBe('id-1');
  });

  it('DRV-RPC-13: a messageId longer than 36 characters is refused', () => {
    const error = frameError(`[2,"${'x'.repeat(37)}","Heartbeat",{}]`);
    expect(error.code).toBe('RpcFrameworkError');
    expect(error.messageId).toBe('-1');
  });

  it('does not answer a broken CALLRESULT (no error ping-pong)', () => {
    expect(frameError('[3,"a","not an object"]').reply).toBe(false);
  });

  it('DRV-RPC-22: CALLERROR has five elements, errorDetails {} and a description of at most 255 characters', () => {
    const frame = JSON.parse(serializeCallError('a', 'GenericError', 'x'.repeat(400))) as unknown[];
    expect(frame).toHaveLength(5);
    expect((frame[3] as string).length).toBe(255);
    expect(frame[4]).toEqual({});
  });
});

describe('official OCPP 2.0.1 schemas', () => {
  it('loads every action in both directions and the catalogue covers them all', () => {
    expect(schemas.size).toBe(128);
    const catalogue = new Set<string>([...STATION_INITIATED, ...CSMS_INITIATED]);
    expect([...catalogue].sort()).toEqual([...OCPP_ACTIONS].sort());
  });

  it('maps schema keywords to OCPP error codes in one table', () => {
    expect(errorCodeForSchemaKeyword('type')).toBe('TypeConstraintViolation');
    expect(errorCodeForSchemaKeyword('required')).toBe('OccurrenceConstraintViolation');
    expect(errorCodeForSchemaKeyword('additionalProperties')).toBe('PropertyConstraintViolation');
    expect(errorCodeForSchemaKeyword('maxLength')).toBe('FormatViolation');
  });

  it('DRV-RPC-09/10/11/12: classifies invalid payloads', () => {
    expect(schemas.check('BootNotification', 'Request', { reason: 'PowerUp' })?.code).toBe('OccurrenceConstraintViolation');
    const status = { timestamp: '2026-01-01T00:00:00Z', connectorStatus: 'Available', evseId: 1, connectorId: 1 };
    expect(schemas.check('StatusNotification', 'Request', status)).toBeUndefined();
    expect(schemas.check('StatusNotification', 'Request', { ...status, connectorId: '1' })?.code).toBe('TypeConstraintViolation');
    expect(schemas.check('StatusNotification', 'Request', { ...status, connectorStatus: 'Foo' })?.code).toBe('PropertyConstraintViolation');
    expect(schemas.check('StatusNotification', 'Request', { ...status, extra: 1 })?.code).toBe('PropertyConstraintViolation');
    expect(schemas.check('StatusNotification', 'Request', { ...status, timestamp: 'yesterday' })?.code).toBe('FormatViolation');
  });

  it('TC_P_03: accepts customData with vendor properties anywhere', () => {
    const payload = { reason: 'PowerUp', chargingStation: { model: 'M', vendorName: 'V', customData: { vendorId: 'X', anything: [1] } }, customData: { vendorId: 'X' } };
    expect(schemas.check('BootNotification', 'Request', payload)).toBeUndefined();
  });

  it('lists every violation for the operator API', () => {
    const violations = schemas.violations('Reset', 'Request', { type: 'Sometime', foo: 1 });
    expect(violations.map((v) => v.keyword).sort()).toEqual(['additionalProperties', 'enum']);
  });
});
