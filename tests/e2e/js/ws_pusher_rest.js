// The official npm `pusher` library (pusher-http-node) as a Pusher server SDK talking to Herald's
// `websocket` driver, for its end-to-end tests (tests/e2e/websocket_*_test.cpp).
//
// stdin: {"app":{"app_id","key","secret","port"}, "ops":[..]}; stdout: one JSON array with one
// result per op, in order. Every result is {"status":<HTTP status>,"body":<parsed JSON reply>},
// or {"error":"..","status"?,"body"?} when the library reports a failure.
//   {"op":"trigger","channels","event","data","params"?}     Pusher#trigger
//   {"op":"triggerBatch","batch":[{channel,name,data,...}]}   Pusher#triggerBatch
//   {"op":"get","path","params"?}                             Pusher#get
'use strict';

const http = require('http');
const Pusher = require('pusher');

function parse(text) {
  try {
    return JSON.parse(text);
  } catch (e) {
    return text;
  }
}

async function reply(promise) {
  try {
    const res = await promise;
    return { status: res.status, body: parse(await res.text()) };
  } catch (e) {
    const out = { error: String(e && e.message ? e.message : e) };
    if (e && e.status !== undefined) out.status = e.status;
    if (e && e.body !== undefined) out.body = parse(e.body);
    return out;
  }
}

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const app = input.app;
  const pusher = new Pusher({
    appId: app.app_id,
    key: app.key,
    secret: app.secret,
    host: '127.0.0.1',
    port: app.port,
    useTLS: false,
    timeout: 10000,
    agent: new http.Agent({ keepAlive: false }),
  });
  const results = [];
  for (const op of input.ops) {
    switch (op.op) {
      case 'trigger':
        results.push(await reply(pusher.trigger(op.channels, op.event, op.data, op.params)));
        break;
      case 'triggerBatch':
        results.push(await reply(pusher.triggerBatch(op.batch)));
        break;
      case 'get':
        results.push(await reply(pusher.get({ path: op.path, params: op.params || {} })));
        break;
      default:
        results.push({ error: 'unknown op ' + op.op });
    }
  }
  process.stdout.write(JSON.stringify(results) + '\n', () => process.exit(0));
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
  process.exit(1);
});
