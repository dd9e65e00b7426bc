import { asJson } from '../json.js';
import type { CommandPlan } from '../station/types.js';

/** The plan of every command without a rule of its own: one request, its answer as is. */
export function singleRequest(payload: object): CommandPlan {
  return { requests: [asJson(payload)], merge: (responses) => responses[0] ?? {} };
}
