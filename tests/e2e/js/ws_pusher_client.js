// A pusher-js 8 client (its Node build: faye-websocket for the socket, node-XMLHttpRequest for
// the real `ajax` channel authorizer) for the `websocket` driver's end-to-end tests
// (tests/e2e/websocket_*_test.cpp). It prints one JSON line per observation and takes commands
// from a file the test appends JSON lines to, so a test can drive several clients step by step.
//
//   node ws_pusher_client.js '<options json>'
//
// options: {"name", "port", "key", "auth_endpoint"?, "headers"?, "jwt"?: {"secret","sub"},
//           "channels"?: [..], "commands": "<file>", "timeout_ms"?}
//   jwt: an HS256 token made here (node's crypto), sent as `Authorization: Bearer` to the
//        authorize endpoint.
//
// Output lines:
//   {"connected":"<socket_id>"}                  the connection is established
//   {"frame":{event,channel?,data?,user_id?}}    every message the server sent, as pusher-js
//                                                decoded it (data parsed when it is JSON)
//   {"subscribed":c,"members"?:{count,ids,me}}   pusher:subscription_succeeded
//   {"subscription_error":c,"status":..}         pusher:subscription_error (server's or the
//                                                authorizer's), with everything it carried
//   {"member_added":c,"id":..,"info":..} / {"member_removed":c,"id":..}
//   {"event":e,"channel":c,"data":d,"user_id"?}  an event bound on a channel (not pusher:*)
//   {"members":c,"count":n,"ids":[sorted],"me"}  answer to a `members` command
//   {"triggered":c,"event":e,"ok":bool}          answer to a `trigger` command
//   {"state":from->to}, {"connection_error":..}, {"closed":true}
//   {"done":n}                                   the n-th command has run (a sync point)
// Commands (one JSON object per line in the commands file):
//   {"op":"subscribe","channel"} {"op":"unsubscribe","channel"} {"op":"members","channel"}
//   {"op":"trigger","channel","event","data"} {"op":"disconnect"} {"op":"exit"}
// It exits by itself after timeout_ms (default 60 s) with {"error":"timeout"} and code 2.
'use strict';

const crypto = require('crypto');
const Pusher = require('pusher-js');

const options = JSON.parse(process.argv[2] || '{}');
const { print, finish, commandReader } = require('./command_file');

function base64url(data) {
  return Buffer.from(data).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

function jwt(secret, claims) {
  const head = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = base64url(JSON.stringify(claims));
  const sig = crypto.createHmac('sha256', secret).update(head + '.' + body).digest('base64');
  return head + '.' + body + '.' + sig.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

const headers = Object.assign({}, options.headers || {});
if (options.jwt) {
  const now = Math.floor(Date.now() / 1000);
  headers.Authorization =
      'Bearer ' + jwt(options.jwt.secret, { sub: options.jwt.sub, iat: now, exp: now + 600 });
}

const pusherOptions = {
  wsHost: '127.0.0.1',
  wsPort: options.port,
  forceTLS: false,
  enabledTransports: ['ws'],
  disableStats: true,
  cluster: 'x',
  activityTimeout: 120000,
  pongTimeout: 30000,
};
if (options.auth_endpoint) {
  pusherOptions.channelAuthorization = {
    endpoint: options.auth_endpoint,
    transport: 'ajax',
    headers,
  };
}
const pusher = new Pusher(options.key, pusherOptions);

pusher.connection.bind('state_change', (states) => {
  print({ state: states.previous + '->' + states.current });
});
pusher.connection.bind('connected', () => print({ connected: pusher.connection.socket_id }));
pusher.connection.bind('error', (error) => {
  print({ connection_error: error && error.error ? error.error : String(error) });
});
pusher.connection.bind('message', (message) => print({ frame: message }));

function membersOf(channel) {
  const ids = [];
  channel.members.each((member) => ids.push(String(member.id)));
  ids.sort();
  return { count: channel.members.count, ids, me: channel.members.me ? channel.members.me.id : null };
}

const bound = new Set();
function subscribe(name) {
  const channel = pusher.subscribe(name);
  if (bound.has(name)) return;  // a repeated subscribe must not bind twice
  bound.add(name);
  channel.bind('pusher:subscription_succeeded', () => {
    const line = { subscribed: name };
    if (name.startsWith('presence-')) line.members = membersOf(channel);
    print(line);
  });
  channel.bind('pusher:subscription_error', (status) => {
    print(Object.assign({ subscription_error: name }, typeof status === 'object' ? status : { status }));
  });
  channel.bind('pusher:member_added', (member) => {
    print({ member_added: name, id: String(member.id), info: member.info });
  });
  channel.bind('pusher:member_removed', (member) => {
    print({ member_removed: name, id: String(member.id) });
  });
  channel.bind_global((event, data) => {
    if (event.startsWith('pusher:') || event.startsWith('pusher_internal:')) return;
    print({ event, channel: name, data });
  });
}

for (const name of options.channels || []) subscribe(name);

let commandsDone = 0;
function runCommand(command) {
  switch (command.op) {
    case 'subscribe':
      subscribe(command.channel);
      break;
    case 'unsubscribe':
      pusher.unsubscribe(command.channel);
      bound.delete(command.channel);
      break;
    case 'members': {
      const channel = pusher.channel(command.channel);
      print(Object.assign({ members: command.channel }, channel ? membersOf(channel) : { count: -1 }));
      break;
    }
    case 'trigger': {
      const channel = pusher.channel(command.channel);
      let ok = false;
      try {
        ok = channel ? channel.trigger(command.event, command.data) : false;
      } catch (e) {
        print({ trigger_error: String(e && e.message ? e.message : e) });
      }
      print({ triggered: command.channel, event: command.event, ok });
      break;
    }
    case 'disconnect':
      pusher.disconnect();
      break;
    case 'exit':
      pusher.disconnect();
      print({ done: ++commandsDone });
      setTimeout(() => finish(0), 100);
      return;
    default:
      print({ error: 'unknown command ' + JSON.stringify(command) });
  }
  print({ done: ++commandsDone });
}

const pollCommands = commandReader(options.commands, runCommand);
setInterval(pollCommands, 20);

setTimeout(() => {
  print({ error: 'timeout' });
  pusher.disconnect();
  finish(2);
}, Number(options.timeout_ms || 60000));

process.on('SIGTERM', () => {
  pusher.disconnect();
  print({ closed: true });
  finish(0);
});
