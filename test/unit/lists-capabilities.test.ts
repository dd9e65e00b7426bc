/**
 * Reading what a station reported about its local list (DRV-LAL-09/10) and its display (DRV-AUI-08/11) from the
 * device model as stored: exactly the reported values, and nothing assumed for what it never reported.
 */
import { describe, expect, it } from 'vitest';
import { displayCapabilities } from '../../src/blocks/display-messages/capabilities.js';
import { capacityFromDeviceModel } from '../../src/blocks/local-list/plan.js';
import type { DeviceVariable } from '../../src/store/store.js';

function variable(component: string, name: string, value: string | undefined, maxLimit?: number): DeviceVariable {
  return {
    component: { name: component },
    variable: { name },
    attributes: [{ type: 'Actual', ...(value !== undefined ? { value } : {}) }],
    ...(maxLimit !== undefined ? { characteristics: { dataType: 'integer', supportsMonitoring: false, maxLimit } } : {}),
  };
}

describe('capacityFromDeviceModel', () => {
  it('DRV-LAL-09/10: Entries maxLimit, Enabled and Available as reported (2.0.1)', () => {
    const model = [
      variable('LocalAuthListCtrlr', 'Entries', '12', 250),
      variable('LocalAuthListCtrlr', 'Enabled', 'FALSE'),
      variable('LocalAuthListCtrlr', 'Available', 'true'),
      // Another component's Enabled says nothing about the list.
      variable('AuthCtrlr', 'Enabled', 'false'),
    ];
    expect(capacityFromDeviceModel(model, '2.0.1')).toEqual({ enabled: false, available: true, maxEntries: 250 });
  });

  it('the Actual value of Entries (how many it holds now) is not its capacity', () => {
    expect(capacityFromDeviceModel([variable('LocalAuthListCtrlr', 'Entries', '12')], '2.0.1').maxEntries).toBeUndefined();
  });

  it('unreported or unreadable values stay unknown', () => {
    expect(capacityFromDeviceModel([], '2.0.1')).toEqual({ enabled: undefined, available: undefined, maxEntries: undefined });
    expect(capacityFromDeviceModel([variable('LocalAuthListCtrlr', 'Enabled', 'maybe')], '2.0.1').enabled).toBeUndefined();
  });

  it('1.6: LocalAuthListEnabled and LocalAuthListMaxLength', () => {
    const model = [variable('OCPP16', 'LocalAuthListEnabled', 'false'), variable('OCPP16', 'LocalAuthListMaxLength', '500')];
    expect(capacityFromDeviceModel(model, '1.6')).toEqual({ enabled: false, available: undefined, maxEntries: 500 });
    // The 2.0.1 names mean nothing on a 1.6 station, and the other way round.
    expect(capacityFromDeviceModel(model, '2.0.1')).toEqual({ enabled: undefined, available: undefined, maxEntries: undefined });
  });
});

describe('displayCapabilities', () => {
  it('DRV-AUI-11: member lists split on commas, spaces trimmed', () => {
    const caps = displayCapabilities([
      variable('DisplayMessageCtrlr', 'SupportedPriorities', 'InFront, NormalCycle'),
      variable('DisplayMessageCtrlr', 'SupportedFormats', 'ASCII,UTF8'),
      variable('DisplayMessageCtrlr', 'SupportedStates', 'Idle'),
    ]);
    expect(caps).toEqual({ maxMessages: undefined, priorities: ['InFront', 'NormalCycle'], formats: ['ASCII', 'UTF8'], states: ['Idle'] });
  });

  it('DRV-AUI-08: DisplayMessages (or NumberOfDisplayMessages) maxLimit is the room', () => {
    expect(displayCapabilities([variable('DisplayMessageCtrlr', 'DisplayMessages', '1', 3)]).maxMessages).toBe(3);
    expect(displayCapabilities([variable('DisplayMessageCtrlr', 'NumberOfDisplayMessages', '0', 8)]).maxMessages).toBe(8);
  });

  it('an empty member list or no report is unknown, never "supports nothing"', () => {
    expect(displayCapabilities([variable('DisplayMessageCtrlr', 'SupportedFormats', '')]).formats).toBeUndefined();
    expect(displayCapabilities([variable('DisplayMessageCtrlr', 'SupportedFormats', undefined)]).formats).toBeUndefined();
    expect(displayCapabilities([])).toEqual({ maxMessages: undefined, priorities: undefined, formats: undefined, states: undefined });
  });
});
