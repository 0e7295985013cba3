// A Pusher webhook receiver for the `websocket` driver's end-to-end tests
// (tests/e2e/websocket_webhooks_test.cpp). It checks every request on its own, the way a Pusher
// app does (pusher-http-node `lib/webhook.js`): X-Pusher-Key is the app key and
// X-Pusher-Signature is the hex HMAC-SHA256 of the RAW body with the app secret, compared in
// constant time (crypto.timingSafeEqual). It prints one JSON line per observation.
//
//   node webhook_receiver.js '<options json>'
//
// options: {"port", "key", "secret", "fail_first"?: n, "fail_status"?: 500, "hang"?: bool,
//           "commands"?, "timeout_ms"?}
//   fail_first: answer `fail_status` to the first n requests (a receiver having trouble), then 200.
//   hang: read every request but never answer (a receiver that is stuck).
//
// Output lines:
//   {"listening":port}
//   {"request":n,"status":s,"valid":bool,"key_ok":bool,"content_type":..,"signature":..,
//    "time_ms":..,"count":events}                              every request, as answered
//   {"webhook":{name,channel,..},"request":n,"status":s,"valid":bool,"time_ms":..}
//                                                              each event of each request
//   {"bad_body":n,"error":..}                                 a body that is not the format
//   {"done":n}                                                the n-th command has run
// Commands: {"op":"exit"}.
'use strict';

const crypto = require('crypto');
const http = require('http');
const { print, finish, commandReader } = require('./command_file');

const options = JSON.parse(process.argv[2] || '{}');
const failFirst = Number(options.fail_first || 0);
const failStatus = Number(options.fail_status || 500);

function signatureValid(rawBody, given) {
  if (typeof given !== 'string' || !/^[0-9a-f]{64}$/.test(given)) return false;
  const expected = crypto.createHmac('sha256', String(options.secret)).update(rawBody).digest();
  return crypto.timingSafeEqual(expected, Buffer.from(given, 'hex'));
}

let requests = 0;
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const n = ++requests;
    const raw = Buffer.concat(chunks);
    const status = options.hang ? 0 : n <= failFirst ? failStatus : 200;
    const signature = req.headers['x-pusher-signature'];
    const valid = req.method === 'POST' && signatureValid(raw, signature);
    const keyOk = req.headers['x-pusher-key'] === String(options.key);
    let body = null;
    try {
      body = JSON.parse(raw.toString('utf8'));
      if (typeof body !== 'object' || body === null || !Array.isArray(body.events) ||
          !Number.isInteger(body.time_ms))
        throw new Error('not {"time_ms":<int>,"events":[..]}');
    } catch (e) {
      print({ bad_body: n, error: String(e && e.message ? e.message : e), body: raw.toString('utf8') });
      body = null;
    }
    print({
      request: n,
      status,
      method: req.method,
      path: req.url,
      valid,
      key_ok: keyOk,
      content_type: req.headers['content-type'] || null,
      signature: signature || null,
      time_ms: body ? body.time_ms : null,
      count: body ? body.events.length : -1,
    });
    if (body) {
      for (const event of body.events)
        print({ webhook: event, request: n, status, valid: valid && keyOk, time_ms: body.time_ms });
    }
    if (options.hang) return;  // the sender's timeout ends it
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(status === 200 ? '{}' : '{"error":"try again"}');
  });
});

server.listen(Number(options.port || 0), '127.0.0.1', () => {
  print({ listening: server.address().port });
});

let commandsDone = 0;
const pollCommands = commandReader(options.commands, (command) => {
  if (command.op === 'exit') {
    print({ done: ++commandsDone });
    server.close();
    setTimeout(() => finish(0), 50);
    return;
  }
  print({ error: 'unknown command ' + JSON.stringify(command) });
  print({ done: ++commandsDone });
});
setInterval(pollCommands, 20);

setTimeout(() => {
  print({ error: 'timeout' });
  finish(2);
}, Number(options.timeout_ms || 90000));

process.on('SIGTERM', () => {
  print({ closed: true });
  finish(0);
});
