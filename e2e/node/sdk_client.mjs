// A user's program on the official @directus/sdk realtime client, driven by
// pgfeed's e2e tests (e2e/sdk_test.go). It subscribes to the messages
// collection and prints one JSON line per thing that happens; it reads
// commands ("unsubscribe", "exit") from stdin.
//
// Environment: PGFEED_URL (http://host:port), PGFEED_AUTH_MODE (public or
// handshake), PGFEED_TOKEN (an access token, for handshake), PGFEED_PACED
// (set: the WebSocket the README recommends for Node, below), PGFEED_QUERY
// (the subscription's query as JSON; by default the fields id and text).
import { createDirectus, realtime, staticToken } from "@directus/sdk";
import WS from "ws";
import readline from "node:readline";

// By default ws delivers every frame of one network read in the same tick,
// and the SDK's subscription generator, which listens only while it waits
// for the next message, then misses all but the first; with
// allowSynchronousEvents off, ws delivers one frame per tick.
class PacedWebSocket extends WS {
  constructor(url, protocols, options) {
    super(url, protocols, { ...options, allowSynchronousEvents: false });
  }
}
const WebSocket = process.env.PGFEED_PACED ? PacedWebSocket : WS;

const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

const authMode = process.env.PGFEED_AUTH_MODE || "public";
let client = createDirectus(process.env.PGFEED_URL, { globals: { WebSocket } });
if (process.env.PGFEED_TOKEN) client = client.with(staticToken(process.env.PGFEED_TOKEN));
client = client.with(realtime({ authMode, reconnect: { delay: 200, retries: 100 } }));

// "raw" lines are every frame the server sent, read from the socket itself:
// the SDK's own message loop may skip frames that arrive back to back.
client.onWebSocket("open", function () {
  out({ kind: "open" });
  this.addEventListener("message", (ev) => out({ kind: "raw", msg: JSON.parse(String(ev.data)) }));
});
client.onWebSocket("close", (ev) => out({ kind: "close", code: ev.code, reason: String(ev.reason || "") }));

try {
  await client.connect();
} catch (err) {
  out({ kind: "connect-error", error: String(err) });
  process.exit(3);
}
const query = process.env.PGFEED_QUERY ? JSON.parse(process.env.PGFEED_QUERY) : { fields: ["id", "text"] };
const { subscription, unsubscribe } = await client.subscribe("messages", { query });
out({ kind: "subscribed" });

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  switch (line.trim()) {
    case "unsubscribe":
      unsubscribe();
      out({ kind: "unsubscribed" });
      break;
    case "exit":
      client.disconnect();
      process.exit(0);
  }
});

try {
  for await (const msg of subscription) out({ kind: "message", msg });
  out({ kind: "done" });
} catch (err) {
  out({ kind: "error", error: err });
  process.exit(1);
}
