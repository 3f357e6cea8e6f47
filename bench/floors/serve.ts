// Idle-RSS floor: a listener and a timer, as the helper has when idle.
// Usage: serve.ts PORT
const port = Number(Deno.args[0] ?? "0");
Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, () => new Response("ok\n"));
let ticks = 0;
setInterval(() => ticks++, 1000);
