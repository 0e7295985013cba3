// A raw WebSocket client (npm `ws`) for the `websocket` driver's end-to-end tests: sends exactly
// the frames a test asks for, including forged or malformed ones that pusher-js never sends, and
// prints every frame the server sends. Commands come from a file the test appends JSON lines to.
//
//   node ws_raw_client.js '<options json>'
//
// options: {"url", "commands": "<file>", "timeout_ms"?, "headers"?}
// Output lines:
//   {"open":true}
//   {"frame":<the JSON the server sent, with `data` parsed when it is a JSON string>,
//    "raw":"<the text as sent>"}           (raw only when the text is not JSON: {"text":..})
//   {"binary":<bytes>}  {"pong":true} (a WebSocket pong)
//   {"close":code,"reason":".."}  {"ws_error":".."}  {"unexpected_response":status}
//   {"done":n}                               the n-th command has run
// Commands:
//   {"op":"send","text":".."}                 a text frame, verbatim
//   {"op":"send","json":{..}}                 JSON.stringify(json) as a text frame
//   {"op":"subscribe_signed","channel","key","secret","channel_data"?}
//        pusher:subscribe with auth = key:HMAC-SHA256(secret, socket_id:channel[:channel_data])
//   {"op":"binary","bytes":[..]} {"op":"ping"} {"op":"close","code"?} {"op":"exit"}
'use strict';

const crypto = require('crypto');
const WebSocket = require('ws');

const options = JSON.parse(process.argv[2] || '{}');
const { print, finish, commandReader } = require('./command_file');

let socketId = null;
const ws = new WebSocket(options.url, { headers: options.headers || {} });
ws.on('open', () => print({ open: true }));
ws.on('message', (data, isBinary) => {
  if (isBinary) {
    print({ binary: Array.from(data) });
    return;
  }
  const text = data.toString('utf8');
  let frame;
  try {
    frame = JSON.parse(text);
  } catch (e) {
    print({ text });
    return;
  }
  if (frame && typeof frame.data === 'string') {
    try {
      frame.data = JSON.parse(frame.data);
      frame.data_was_string = true;
    } catch (e) {
      // data that is not JSON stays a string
    }
  }
  if (frame && frame.event === 'pusher:connection_established' && frame.data) {
    socketId = frame.data.socket_id;
  }
  print({ frame });
});
ws.on('pong', () => print({ pong: true }));
ws.on('close', (code, reason) => {
  print({ close: code, reason: reason.toString('utf8') });
  setTimeout(() => finish(0), 50);
});
ws.on('error', (error) => print({ ws_error: String(error && error.message ? error.message : error) }));
ws.on('unexpected-response', (req, res) => {
  print({ unexpected_response: res.statusCode });
  setTimeout(() => finish(0), 50);
});

let commandsDone = 0;
function runCommand(command) {
  switch (command.op) {
    case 'send':
      ws.send(command.text !== undefined ? command.text : JSON.stringify(command.json));
      break;
    case 'subscribe_signed': {
      let signed = socketId + ':' + command.channel;
      if (command.channel_data !== undefined) signed += ':' + command.channel_data;
      const auth = command.key + ':' +
          crypto.createHmac('sha256', command.secret).update(signed).digest('hex');
      const data = { channel: command.channel, auth };
      if (command.channel_data !== undefined) data.channel_data = command.channel_data;
      ws.send(JSON.stringify({ event: 'pusher:subscribe', data }));
      break;
    }
    case 'binary':
      ws.send(Buffer.from(command.bytes), { binary: true });
      break;
    case 'ping':
      ws.ping();
      break;
    case 'close':
      ws.close(command.code || 1000);
      break;
    case 'exit':
      print({ done: ++commandsDone });
      ws.terminate();
      setTimeout(() => finish(0), 50);
      return;
    default:
      print({ error: 'unknown command ' + JSON.stringify(command) });
  }
  print({ done: ++commandsDone });
}

const pollCommands = commandReader(options.commands, runCommand);
// Commands wait until the socket is open (or closed for good: then they fail visibly).
ws.on('open', () => setInterval(pollCommands, 20));
ws.on('close', () => pollCommands());

setTimeout(() => {
  print({ error: 'timeout' });
  ws.terminate();
  finish(2);
}, Number(options.timeout_ms || 60000));
