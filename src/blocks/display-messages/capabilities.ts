import type { DeviceVariable } from '../../store/store.js';

/**
 * What a station reported it can show (OCPP 2.0.1 Part 2 appendix, DisplayMessageCtrlr); undefined = never
 * reported, and an unknown capability never refuses anything (DRV-AUI-08, DRV-AUI-11).
 */
export interface DisplayCapabilities {
  /** DisplayMessageCtrlr.DisplayMessages (NumberOfDisplayMessages) maxLimit: how many messages it holds at once. */
  maxMessages: number | undefined;
  /** DisplayMessageCtrlr.SupportedPriorities (MessagePriorityEnumType members). */
  priorities: readonly string[] | undefined;
  /** DisplayMessageCtrlr.SupportedFormats (MessageFormatEnumType members). */
  formats: readonly string[] | undefined;
  /** DisplayMessageCtrlr.SupportedStates (MessageStateEnumType members), where a station reports it. */
  states: readonly string[] | undefined;
}

function actualValue(entry: DeviceVariable): string | undefined {
  return (entry.attributes.find((a) => a.type === 'Actual') ?? entry.attributes[0])?.value;
}

/** A MemberList value: comma separated; an empty or absent value is "not reported", not "supports nothing". */
function members(value: string | undefined): string[] | undefined {
  const list = (value ?? '')
    .split(',')
    .map((member) => member.trim())
    .filter((member) => member !== '');
  return list.length > 0 ? list : undefined;
}

export function displayCapabilities(deviceModel: readonly DeviceVariable[]): DisplayCapabilities {
  const caps: DisplayCapabilities = { maxMessages: undefined, priorities: undefined, formats: undefined, states: undefined };
  for (const entry of deviceModel) {
    if ((entry.component as { name?: string }).name !== 'DisplayMessageCtrlr') continue;
    switch ((entry.variable as { name?: string }).name) {
      // The spec lists it as NumberOfDisplayMessages with variable name DisplayMessages; stations use either.
      case 'DisplayMessages':
      case 'NumberOfDisplayMessages': {
        const maxLimit = entry.characteristics?.maxLimit;
        if (typeof maxLimit === 'number' && Number.isInteger(maxLimit) && maxLimit >= 0) caps.maxMessages = maxLimit;
        break;
      }
      case 'SupportedPriorities':
        caps.priorities = members(actualValue(entry));
        break;
      case 'SupportedFormats':
        caps.formats = members(actualValue(entry));
        break;
      case 'SupportedStates':
        caps.states = members(actualValue(entry));
        break;
    }
  }
  return caps;
}
