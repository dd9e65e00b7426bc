import { asJson } from '../../json.js';
import type { NotifyDisplayMessagesRequest, NotifyDisplayMessagesResponse } from '../../ocpp/v201/types.js';
import type { BlockModule, HandlerContext } from '../../station/types.js';
import type { DisplayMessageStore } from './display-message-store.js';

/**
 * Display messages (O01–O06): what the CSMS set is kept once the station accepted it, whichever path sent
 * SetDisplayMessage; ClearDisplayMessage accepted removes it; GetDisplayMessages starts a new report of what the
 * station holds, assembled from its NotifyDisplayMessages parts (stored before they are acknowledged).
 */
export function createDisplayMessagesBlock(messages: DisplayMessageStore): BlockModule {
  async function notifyDisplayMessages(ctx: HandlerContext, request: NotifyDisplayMessagesRequest): Promise<NotifyDisplayMessagesResponse> {
    await messages.recordReported(ctx.station.stationId, request.requestId, (request.messageInfo ?? []).map(asJson), request.tbc === true);
    return {};
  }

  return {
    name: 'display-messages',
    handlers: {
      NotifyDisplayMessages: notifyDisplayMessages,
    },
    resultHooks: {
      SetDisplayMessage: (station, request, response) => messages.recordSet(station.stationId, asJson(request.message), asJson(response)),
      // Accepted, or Unknown: the station has no such message (TC_O_05); either way the CSMS's view drops it.
      ClearDisplayMessage: (station, request) => messages.recordCleared(station.stationId, request.id),
      GetDisplayMessages: async (station, request, response) => {
        // O03.FR.06: Unknown means the station holds no message matching the request: an empty, complete report.
        const none = response.status === 'Unknown';
        if (response.status === 'Accepted' || none) await messages.startReport(station.stationId, request.requestId, none);
      },
    },
  };
}
