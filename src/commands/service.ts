import { singleRequest } from '../blocks/plans.js';
import type { Clock } from '../clock.js';
import type { CommandOutcome, CommandRouter } from '../cluster/command-router.js';
import { newRequestId } from '../ids.js';
import { isJsonObject, type JsonObject } from '../json.js';
import type { OcppProtocol, OcppVersionId } from '../ocpp/protocol.js';
import { CommandRefusal, type AnyPlanner, type BlockTable, type CommandPlan } from '../station/types.js';
import type { StationRecord, Store } from '../store/store.js';
import type { CallOrigin } from '../operators/call-origin.js';

/** Ids the operator may leave out: the CSMS assigns them (CONTRACT §4). */
const ASSIGNED_IDS = ['requestId', 'remoteStartId'] as const;

/** What became of a command that was sent: the request as sent (ids filled in) and the outcome. */
export interface CommandReport {
  request: JsonObject;
  outcome: CommandOutcome;
  /** How many requests it took (GetVariables / SetVariables split to the station's limits). */
  parts: number;
}

export interface CommandServiceDeps {
  store: Pick<Store, 'getStation' | 'getVariables'>;
  router: CommandRouter;
  /**
   * Each version the commands API speaks: its actions and schemas, and its block table (each block may have a
   * rule, a plan, for the actions it owns). The first is the version of a station that never connected.
   */
  versions: readonly { protocol: OcppProtocol; blocks: BlockTable }[];
  clock: Clock;
  callTimeoutMs: number;
}

/**
 * The one path of an operator command, top to bottom: the deadline starts, the action and body are checked
 * (once, against the official schema), ids are assigned, the station must exist, its block's rule may refuse
 * or split the request, the router delivers each part to whichever node holds the station, and the answers
 * are merged. A refusal is a CommandRefusal (400, 404, 409) and nothing is sent; everything after that is a
 * CommandOutcome. The boot-state rule (B02/B03: what may be sent while Pending or after Rejected) is the
 * station actor's, which knows the live boot status; its refusal comes back as a `refused` outcome.
 */
export class CommandService {
  constructor(private readonly deps: CommandServiceDeps) {
    if (deps.versions.length === 0) throw new Error('the command service needs at least one OCPP version');
  }

  /**
   * The official request schema of a CSMS-initiated action, in `version` or else the first served version that has
   * it; undefined for any other name.
   */
  requestSchema(action: string, version?: string): { version: string; schema: object } | undefined {
    for (const { protocol } of this.deps.versions) {
      if (version !== undefined && protocol.version !== version) continue;
      const schema = protocol.isCsmsAction(action) ? protocol.schemas.schema(action, 'Request') : undefined;
      if (schema !== undefined) return { version: protocol.version, schema };
    }
    return undefined;
  }

  /** The CSMS-initiated actions of one served version (undefined when it is not served). */
  actionsOf(version: string): readonly string[] | undefined {
    return this.deps.versions.find((v) => v.protocol.version === version)?.protocol.csmsActions;
  }

  /** The actions the commands API takes, of every version. */
  get actions(): readonly string[] {
    return [...new Set(this.deps.versions.flatMap((v) => v.protocol.csmsActions))].sort();
  }

  /**
   * The version a command to this station speaks: the one its last connection negotiated, else its pin, else the
   * first served (a station that never connected gets 409 from the router anyway).
   */
  private versionOf(station: StationRecord): { protocol: OcppProtocol; blocks: BlockTable } {
    const versions = this.deps.versions;
    const wanted: OcppVersionId | undefined = station.ocppVersion ?? (station.ocppVersionPin === 'auto' ? undefined : station.ocppVersionPin);
    return versions.find((v) => v.protocol.version === wanted) ?? (versions[0] as { protocol: OcppProtocol; blocks: BlockTable });
  }

  /**
   * `origin` (CONTRACT §8.7): `operator` when an operator's API request waits for this command and its audit entry
   * stands for it; `system` (the default) when the CSMS sends it on its own, and the station session audits it.
   */
  async run(stationId: string, action: string, body: unknown, origin: CallOrigin = 'system'): Promise<CommandReport> {
    const { store, router, clock } = this.deps;
    // The deadline starts now: time spent queued behind the station's other calls counts (CONTRACT §4).
    const deadline = clock.now() + this.deps.callTimeoutMs;
    if (!this.deps.versions.some((v) => v.protocol.isCsmsAction(action))) {
      throw new CommandRefusal(400, 'unknown_action', `${action} is not a CSMS-initiated OCPP action`, { actions: this.actions });
    }
    if (!isJsonObject(body)) throw new CommandRefusal(400, 'invalid_body', 'the body must be a JSON object (the OCPP request payload)');
    const station = await store.getStation(stationId);
    if (station === undefined) throw new CommandRefusal(404, 'station_not_found', `no station ${stationId}`);
    const { protocol, blocks } = this.versionOf(station);
    if (!protocol.isCsmsAction(action)) {
      throw new CommandRefusal(
        400,
        'wrong_ocpp_version',
        `${action} is not an OCPP ${protocol.version} action, and station ${stationId} speaks OCPP ${protocol.version}`,
        {
          ocppVersion: protocol.version,
          actions: protocol.csmsActions,
        },
      );
    }
    const payload: JsonObject = { ...body };
    const properties = protocol.schemas.properties(action, 'Request');
    for (const key of ASSIGNED_IDS) {
      if (properties.includes(key) && payload[key] === undefined) payload[key] = newRequestId();
    }
    const violations = protocol.schemas.violations(action, 'Request', payload);
    if (violations.length > 0) {
      throw new CommandRefusal(400, 'invalid_payload', `the ${action} request violates the OCPP ${protocol.version} schema`, violations);
    }
    const plan = await this.plan(blocks, action, payload, station);

    // Split requests go one after the other: the station sees at most one CALL at a time anyway.
    const answers: JsonObject[] = [];
    let outcome: CommandOutcome = { kind: 'result', response: {} };
    try {
      for (const part of plan.requests) {
        outcome = await router.send(stationId, action, part, deadline, origin);
        if (outcome.kind !== 'result') break;
        answers.push(outcome.response);
      }
      if (outcome.kind === 'result') outcome = { kind: 'result', response: plan.merge(answers) };
    } catch (err) {
      await plan.settle?.({ kind: 'failed', cause: (err as Error).message });
      throw err;
    }
    // The plan learns the outcome (e.g. a remote-start grant is withdrawn when the request failed).
    await plan.settle?.(outcome.kind === 'result' ? outcome : { kind: 'failed', cause: outcome.kind });
    return { request: payload, outcome, parts: plan.requests.length };
  }

  private plan(blocks: BlockTable, action: string, payload: JsonObject, station: { id: string; securityProfile: 1 | 2 | 3 }): CommandPlan | Promise<CommandPlan> {
    const planner: AnyPlanner | undefined = blocks.plans.get(action);
    if (planner === undefined) return singleRequest(payload);
    return planner(payload as never, { station, deviceModel: () => this.deps.store.getVariables(station.id) });
  }
}
