/**
 * Lost ticket (issue 18): declared at the pay station's key (parking/exit/lost) or by an operator. (being written)
 */
import type { Payload } from "../../contracts/mqtt-topics";
import type { FlowContext } from "./flow-context";

export async function handleLostTicket(_ctx: FlowContext, _siteId: string, _p: Payload<"exitLost">): Promise<string> {
  return "ignored";
}
