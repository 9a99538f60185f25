/**
 * Merchant validations (issue 18): one-use codes that apply a discount rule of the tariff. (being written)
 */
import type { Payload } from "../../contracts/mqtt-topics";
import type { FlowContext } from "./flow-context";

export async function handleExitValidation(_ctx: FlowContext, _siteId: string, _p: Payload<"exitValidation">): Promise<string> {
  return "ignored";
}
