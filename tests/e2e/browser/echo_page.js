// The Echo side of echo_page.html: what a Laravel app's resources/js/echo.js does, with the
// settings from the `config` query parameter (JSON):
//   {"key", "wsHost", "wsPort", "authEndpoint", "headers"?: {..},
//    "private"?: {"channel": "order.1", "listen": [".OrderShipped", "OrderPaid", ..]},
//    "presence"?: "room"}
// Everything it sees is written into the page as text.
import Echo from '/vendor/laravel-echo/echo.js';

const config = JSON.parse(new URLSearchParams(window.location.search).get('config') || '{}');

const $ = (id) => document.getElementById(id);
function append(id, text) {
  const li = document.createElement('li');
  li.textContent = text;
  $(id).appendChild(li);
}
function setStatus(text) {
  $('status').textContent = text;
}
const describeError = (error) =>
  typeof error === 'object' && error !== null
    ? `${error.type || 'error'} ${error.status === undefined ? '' : error.status}`.trim()
    : String(error);

window.Echo = new Echo({
  broadcaster: 'pusher',
  key: config.key,
  cluster: 'herald',  // pusher-js 8 requires one; wsHost wins over it
  wsHost: config.wsHost,
  wsPort: config.wsPort,
  forceTLS: false,
  enabledTransports: ['ws'],
  disableStats: true,
  authEndpoint: config.authEndpoint,
  auth: { headers: config.headers || {} },
});

const connection = window.Echo.connector.pusher.connection;
$('connection').textContent = connection.state;
connection.bind('state_change', (states) => {
  $('connection').textContent = states.current;
});

if (config.private) {
  const { channel, listen } = config.private;
  $('channel').textContent = 'private-' + channel;
  const subscription = window.Echo.private(channel)
    .subscribed(() => setStatus('subscribed'))
    .error((error) => setStatus('subscription error: ' + describeError(error)));
  for (const event of listen || []) {
    subscription.listen(event, (data) => append('events', event + ' ' + JSON.stringify(data)));
  }
}

if (config.presence) {
  $('channel').textContent = 'presence-' + config.presence;
  const members = new Map();
  const showMembers = () => {
    $('members').replaceChildren();
    for (const name of [...members.values()].sort()) append('members', name);
  };
  const nameOf = (info) => (info && info.name) || JSON.stringify(info);
  window.Echo.join(config.presence)
    .here((users) => {
      setStatus('subscribed');
      for (const user of users) members.set(nameOf(user), nameOf(user));
      showMembers();
      append('presence-log', 'here: ' + users.map(nameOf).sort().join(', '));
    })
    .joining((user) => {
      members.set(nameOf(user), nameOf(user));
      showMembers();
      append('presence-log', 'joining: ' + nameOf(user));
    })
    .leaving((user) => {
      members.delete(nameOf(user));
      showMembers();
      append('presence-log', 'leaving: ' + nameOf(user));
    })
    .error((error) => setStatus('subscription error: ' + describeError(error)));
}
