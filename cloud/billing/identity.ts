/**
 * How a session's identity is printed for the driver (pages, receipts): a plate in full — it is
 * written on the car and shown on the lane's display; a badge UID or ticket number masked to its
 * last 4, since those open the barrier.
 */
export function shownIdentity(method: "plate" | "badge" | "ticket", value: string): string {
  if (method === "plate") return value;
  return value.length <= 4 ? "••••" : `•••• ${value.slice(-4)}`;
}
