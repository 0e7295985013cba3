// A Laravel Echo style Socket.IO v2 client for the redis driver's end-to-end test: connects to a
// laravel-echo-server, subscribes to public channels and prints every event it receives as one
// JSON line {"event","channel","data"}, then exits 0 after `count` events. Prints
// {"connected":true} once connected (subscriptions are sent right after), and exits 2 with an
// {"error":..} line on a timeout or a connection error, so a test never hangs on it.
//
//   node redis_echo_client.js <url> <channel[,channel...]> <count> <timeout_ms>
//
// NODE_PATH must point at the node_modules holding socket.io-client@2.
'use strict';

const io = require('socket.io-client');

const [url, channelList, countText, timeoutText] = process.argv.slice(2);
if (!url || !channelList || !countText) {
  console.error('usage: redis_echo_client.js <url> <channels> <count> [timeout_ms]');
  process.exit(64);
}
const channels = channelList.split(',');
const expected = Number(countText);
const timeoutMs = Number(timeoutText || 20000);

const print = (value) => process.stdout.write(JSON.stringify(value) + '\n');
const finish = (code) => process.stdout.write('', () => process.exit(code));

const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
let received = 0;

// Socket.IO v2 has no catch-all listener: wrap the packet dispatcher to see every event.
const dispatch = socket.onevent;
socket.onevent = function (packet) {
  const [event, channel, data] = packet.data || [];
  print({ event, channel, data });
  dispatch.call(this, packet);
  if (++received >= expected) {
    socket.close();
    finish(0);
  }
};

socket.on('connect', () => {
  for (const channel of channels) socket.emit('subscribe', { channel, auth: {} });
  print({ connected: true });
});
socket.on('disconnect', (reason) => {
  if (received >= expected) return;
  print({ error: `disconnected (${reason}) after ${received} of ${expected} events` });
  finish(2);
});
socket.on('connect_error', (error) => {
  print({ error: 'connect_error: ' + (error && error.message ? error.message : String(error)) });
  finish(2);
});

setTimeout(() => {
  print({ error: `timeout after ${timeoutMs} ms with ${received} of ${expected} events` });
  socket.close();
  finish(2);
}, timeoutMs);
