/** A minimal server-sent-events reader over fetch, for the console's stream tests (the browser's EventSource in Chromium tests). */
export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

export interface SseReader {
  status: number;
  /** Resolves with the first event (already received or to come) that matches. */
  next(match: (e: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  events: SseEvent[];
  close(): void;
}

export async function openSse(url: string, headers: Record<string, string>): Promise<SseReader> {
  const ac = new AbortController();
  const r = await fetch(url, { headers: { Accept: "text/event-stream", ...headers }, signal: ac.signal });
  const events: SseEvent[] = [];
  const waiters: { match: (e: SseEvent) => boolean; resolve: (e: SseEvent) => void }[] = [];
  if (r.body) {
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i: number;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const e: SseEvent = { event: "message", data: "" };
            for (const line of block.split("\n")) {
              if (line.startsWith("event: ")) e.event = line.slice(7);
              else if (line.startsWith("data: ")) e.data += line.slice(6);
              else if (line.startsWith("id: ")) e.id = line.slice(4);
            }
            if (block.startsWith(":")) continue;
            events.push(e);
            for (const w of [...waiters]) if (w.match(e)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(e); }
          }
        }
      } catch {
        // aborted by close()
      }
    })();
  }
  return {
    status: r.status,
    events,
    next(match, timeoutMs = 5000) {
      const found = events.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no matching event within ${timeoutMs} ms (got ${events.map((e) => e.event).join(", ")})`)), timeoutMs);
        waiters.push({ match, resolve: (e) => { clearTimeout(t); resolve(e); } });
      });
    },
    close: () => ac.abort(),
  };
}
