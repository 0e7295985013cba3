// Herald console (plugins/websocket/README.md "Console"): a small Pusher protocol 7 client over
// the browser's WebSocket, a live event log, a publish box and live counts from /console/api.
// No framework and nothing loaded from elsewhere; the page's CSP allows only this server.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const meta = (name) => {
    const el = document.querySelector(`meta[name="${name}"]`);
    return el ? el.content : '';
  };
  const APP_KEY = meta('herald-app-key');
  const PREFIX = 'herald.console.';
  // The API key and the authorize token stay in this tab (sessionStorage); the rest is remembered.
  const store = {
    get(key, session = false) {
      try {
        return (session ? sessionStorage : localStorage).getItem(PREFIX + key) || '';
      } catch (_) {
        return '';
      }
    },
    set(key, value, session = false) {
      try {
        const s = session ? sessionStorage : localStorage;
        if (value) s.setItem(PREFIX + key, value);
        else s.removeItem(PREFIX + key);
      } catch (_) {
        /* storage disabled: the value lives until the page is closed */
      }
    },
  };

  const oneLine = (text, max = 160) => {
    const s = String(text).replace(/\s+/g, ' ').trim();
    return s.length > max ? `${s.slice(0, max - 1)}…` : s;
  };
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  const clock = (d = new Date()) =>
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  const isPrivate = (c) => c.startsWith('private-');
  const isPresence = (c) => c.startsWith('presence-');
  const validChannel = (c) => /^#?[A-Za-z0-9_\-=@,.;]{1,200}$/.test(c);

  function setStatus(el, text, kind = '') {
    el.textContent = text;
    el.className = `status${kind ? ` ${kind}` : ''}`;
  }

  // ---- event log ---------------------------------------------------------------------------

  const log = {
    list: $('log'),
    empty: $('log-empty'),
    count: $('event-count'),
    filter: '',
    paused: false,
    held: [],
    events: 0,
    max: 500,

    pretty(data) {
      let value = data;
      if (typeof data === 'string') {
        const t = data.trim();
        if (t.startsWith('{') || t.startsWith('[')) {
          try {
            value = JSON.parse(t);
          } catch (_) {
            return data;
          }
        } else {
          return data;
        }
      }
      if (value === undefined) return '';
      const compact = JSON.stringify(value);
      return compact.length <= 90 ? compact : JSON.stringify(value, null, 2);
    },

    // kind: 'event' | 'system' | 'error'
    add(kind, { channel = '', event = '', data, text = '', tag = '' } = {}) {
      const li = document.createElement('li');
      li.className = `entry ${kind} fresh`;
      li.dataset.channel = channel;
      li.dataset.event = event;
      const time = document.createElement('span');
      time.className = 'time';
      time.textContent = clock();
      const head = document.createElement('div');
      head.className = 'head';
      if (kind === 'event') {
        const c = document.createElement('span');
        c.className = 'channel';
        c.textContent = channel;
        const e = document.createElement('span');
        e.className = 'event';
        e.textContent = event;
        head.append(c, e);
        if (tag) {
          const t = document.createElement('span');
          t.className = 'tag';
          t.textContent = tag;
          head.append(t);
        }
      } else {
        head.textContent = text;
      }
      li.append(time, head);
      if (kind === 'event') {
        const pre = document.createElement('pre');
        pre.textContent = this.pretty(data);
        li.append(pre);
        this.events += 1;
        this.count.textContent = String(this.events);
      }
      li.hidden = !this.matches(li);
      if (this.paused) {
        this.held.push(li);
        $('pause').textContent = `Resume (${this.held.length})`;
        return;
      }
      this.insert(li);
    },

    insert(li) {
      this.list.prepend(li);
      while (this.list.childElementCount > this.max) this.list.lastElementChild.remove();
      this.empty.hidden = this.list.childElementCount > 0;
    },

    matches(li) {
      return !this.filter || li.textContent.toLowerCase().includes(this.filter);
    },

    setFilter(text) {
      this.filter = text.trim().toLowerCase();
      for (const li of this.list.children) li.hidden = !this.matches(li);
    },

    togglePause() {
      this.paused = !this.paused;
      const button = $('pause');
      button.setAttribute('aria-pressed', String(this.paused));
      button.textContent = this.paused ? 'Resume (0)' : 'Pause';
      if (!this.paused) {
        for (const li of this.held) this.insert(li);
        this.held = [];
      }
    },

    clear() {
      this.list.replaceChildren();
      this.held = [];
      this.events = 0;
      this.count.textContent = '0';
      this.empty.hidden = false;
      if (this.paused) $('pause').textContent = 'Resume (0)';
    },
  };

  // ---- authorize endpoint (private and presence channels) ---------------------------------

  const authUrl = $('auth-url');
  const authToken = $('auth-token');

  async function authorize(channel, socketId) {
    const raw = authUrl.value.trim();
    let url;
    try {
      url = new URL(raw);
    } catch (_) {
      throw new Error('set the authorize endpoint under "Private & presence channels"');
    }
    if (url.hostname !== location.hostname) {
      throw new Error(
        `the authorize endpoint must be on ${location.hostname} (any port): ` +
          "this page's Content-Security-Policy allows no other host");
    }
    const headers = { 'Content-Type': 'application/x-www-form-urlencoded' };
    if (authToken.value.trim()) headers.Authorization = `Bearer ${authToken.value.trim()}`;
    let res;
    try {
      res = await fetch(url.href, {
        method: 'POST',
        headers,
        body: new URLSearchParams({ socket_id: socketId, channel_name: channel }).toString(),
        mode: 'cors',
        credentials: 'omit',
        cache: 'no-store',
      });
    } catch (_) {
      throw new Error(
        `cannot reach ${url.origin}: is herald serve running there, and does ` +
          `[server] cors_origins include ${location.origin}?`);
    }
    const text = await res.text();
    if (!res.ok) {
      const why = res.status === 403 ? ' (denied: check the token and your topic rules)' : '';
      throw new Error(`authorize endpoint answered ${res.status}${why}${text ? `: ${oneLine(text, 120)}` : ''}`);
    }
    let body;
    try {
      body = JSON.parse(text);
    } catch (_) {
      throw new Error('the authorize endpoint did not answer JSON');
    }
    if (!body || typeof body.auth !== 'string') throw new Error('the authorize answer has no `auth`');
    if (isPresence(channel) && typeof body.channel_data !== 'string')
      throw new Error('the authorize answer has no `channel_data` (presence needs a user: fill in "User")');
    return body;
  }

  // ---- Pusher protocol 7 client ------------------------------------------------------------

  const badge = $('state');
  const socketIdEl = $('socket-id');
  const reconnectButton = $('reconnect');

  const client = {
    ws: null,
    socketId: '',
    state: 'initialized',
    attempts: 0,
    retryTimer: 0,
    activityTimer: 0,
    pongTimer: 0,
    activityMs: 30000,
    channels: new Map(), // name -> {status: 'pending'|'subscribed'|'error', detail}

    url() {
      const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
      return `${scheme}://${location.host}/app/${encodeURIComponent(APP_KEY)}?protocol=7&client=herald-console&version=1.0`;
    },

    setState(state, text) {
      this.state = state;
      badge.dataset.state = state;
      badge.textContent = text || state;
      socketIdEl.textContent = state === 'connected' ? this.socketId : '';
      reconnectButton.hidden = !(state === 'unavailable' || state === 'failed');
    },

    connect() {
      clearTimeout(this.retryTimer);
      if (this.ws) {
        this.ws.onclose = null;
        this.ws.close();
      }
      this.setState('connecting', 'connecting…');
      let ws;
      try {
        ws = new WebSocket(this.url());
      } catch (e) {
        this.setState('failed', 'cannot connect');
        log.add('error', { text: `cannot open the WebSocket: ${e.message}` });
        return;
      }
      this.ws = ws;
      ws.onmessage = (m) => this.onMessage(m.data);
      ws.onclose = (e) => this.onClose(e.code, e.reason);
    },

    send(event, data) {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ event, data }));
    },

    // Quiet for activity_timeout: ping; nothing back within 30 s: the connection is dead.
    touch() {
      clearTimeout(this.activityTimer);
      clearTimeout(this.pongTimer);
      this.activityTimer = setTimeout(() => {
        this.send('pusher:ping', {});
        this.pongTimer = setTimeout(() => {
          log.add('error', { text: 'no answer to a ping: reconnecting' });
          if (this.ws) this.ws.close();
        }, 30000);
      }, this.activityMs);
    },

    onMessage(text) {
      this.touch();
      let msg;
      try {
        msg = JSON.parse(text);
      } catch (_) {
        log.add('error', { text: `a frame that is not JSON: ${oneLine(text, 80)}` });
        return;
      }
      let data = msg.data;
      if (typeof data === 'string' && msg.event && msg.event.startsWith('pusher')) {
        try {
          data = JSON.parse(data);
        } catch (_) {
          /* keep the string */
        }
      }
      switch (msg.event) {
        case 'pusher:connection_established': {
          this.socketId = data.socket_id;
          this.activityMs = Math.min(Number(data.activity_timeout) || 30, 120) * 1000;
          this.attempts = 0;
          this.setState('connected', 'connected');
          log.add('system', { text: `connected as ${this.socketId}` });
          for (const name of this.channels.keys()) this.subscribeNow(name);
          break;
        }
        case 'pusher:ping':
          this.send('pusher:pong', {});
          break;
        case 'pusher:pong':
          break;
        case 'pusher:error': {
          const code = data && data.code ? ` ${data.code}` : '';
          log.add('error', { text: `server error${code}: ${(data && data.message) || ''}` });
          break;
        }
        case 'pusher_internal:subscription_succeeded': {
          let extra = '';
          if (data && data.presence) extra = ` (${data.presence.count} member${data.presence.count === 1 ? '' : 's'})`;
          this.mark(msg.channel, 'subscribed');
          log.add('system', { text: `subscribed to ${msg.channel}${extra}` });
          ui.subscribed(msg.channel);
          break;
        }
        case 'pusher:subscription_error': {
          const why = data && (data.error || data.type) ? `${data.error || data.type}` : oneLine(JSON.stringify(data));
          const status = data && data.status ? ` (${data.status})` : '';
          this.mark(msg.channel, 'error', why);
          log.add('error', { text: `subscription to ${msg.channel} refused${status}: ${why}` });
          ui.error(`${msg.channel}: ${why}`);
          break;
        }
        case 'pusher_internal:member_added':
          log.add('system', { text: `${msg.channel}: member ${data && data.user_id} joined` });
          break;
        case 'pusher_internal:member_removed':
          log.add('system', { text: `${msg.channel}: member ${data && data.user_id} left` });
          break;
        default:
          if (msg.channel) {
            const tag = msg.channel.startsWith('private-encrypted-') ? 'encrypted' : msg.user_id ? `user ${msg.user_id}` : '';
            log.add('event', { channel: msg.channel, event: msg.event, data: msg.data, tag });
          } else {
            log.add('system', { text: `${msg.event}: ${oneLine(JSON.stringify(msg.data ?? ''))}` });
          }
      }
    },

    onClose(code, reason) {
      clearTimeout(this.activityTimer);
      clearTimeout(this.pongTimer);
      this.ws = null;
      this.socketId = '';
      for (const name of this.channels.keys()) this.mark(name, 'pending');
      if ($('subscribe-status').classList.contains('ok')) setStatus($('subscribe-status'), '');
      const why = reason ? ` (${oneLine(reason, 80)})` : '';
      if (code >= 4000 && code < 4100) {
        // Pusher: do not reconnect as is (e.g. 4001, an unknown app key).
        this.setState('failed', `failed: ${code}`);
        log.add('error', { text: `closed by the server with ${code}${why}; not reconnecting` });
        return;
      }
      // 4200-4299: reconnect now; anything else: exponential backoff with jitter, at most 30 s.
      const delay =
        code >= 4200 && code < 4300 && this.attempts === 0
          ? 250
          : Math.min(30000, 1000 * 2 ** Math.min(this.attempts, 5)) * (0.75 + Math.random() * 0.5);
      this.attempts += 1;
      const seconds = Math.max(1, Math.round(delay / 1000));
      this.setState('unavailable', `disconnected · retry in ${seconds} s`);
      log.add('error', { text: `disconnected (${code || 'no code'})${why}; reconnecting in ${seconds} s` });
      this.retryTimer = setTimeout(() => this.connect(), delay);
    },

    mark(name, status, detail = '') {
      if (!this.channels.has(name)) return;
      this.channels.set(name, { status, detail });
      ui.renderChannels();
    },

    subscribe(name) {
      if (!this.channels.has(name)) this.channels.set(name, { status: 'pending', detail: '' });
      else this.channels.get(name).status = 'pending';
      ui.renderChannels();
      if (this.state === 'connected') this.subscribeNow(name);
    },

    async subscribeNow(name) {
      const socketId = this.socketId;
      const data = { channel: name };
      if (isPrivate(name) || isPresence(name)) {
        try {
          const auth = await authorize(name, socketId);
          data.auth = auth.auth;
          if (auth.channel_data) data.channel_data = auth.channel_data;
        } catch (e) {
          this.mark(name, 'error', e.message);
          log.add('error', { text: `${name}: ${e.message}` });
          ui.error(`${name}: ${e.message}`);
          return;
        }
        if (socketId !== this.socketId || !this.channels.has(name)) return; // reconnected meanwhile
      }
      this.send('pusher:subscribe', data);
    },

    unsubscribe(name) {
      this.channels.delete(name);
      if (this.state === 'connected') this.send('pusher:unsubscribe', { channel: name });
      log.add('system', { text: `unsubscribed from ${name}` });
      ui.renderChannels();
    },
  };

  // ---- subscribe box -----------------------------------------------------------------------

  const ui = {
    renderChannels() {
      const list = $('subscriptions');
      const options = $('channel-list');
      list.replaceChildren();
      options.replaceChildren();
      for (const [name, { status, detail }] of client.channels) {
        const li = document.createElement('li');
        li.className = 'chip';
        li.dataset.channel = name;
        li.dataset.status = status;
        li.title = status === 'error' ? detail : status;
        const label = document.createElement('span');
        label.className = 'name';
        label.textContent = name;
        const remove = document.createElement('button');
        remove.type = 'button';
        remove.textContent = '×';
        remove.title = `Unsubscribe from ${name}`;
        remove.setAttribute('aria-label', `Unsubscribe from ${name}`);
        remove.addEventListener('click', () => client.unsubscribe(name));
        label.addEventListener('click', () => {
          $('pub-channel').value = name;
        });
        li.append(label, remove);
        list.append(li);
        const option = document.createElement('option');
        option.value = name;
        options.append(option);
      }
      store.set('channels', JSON.stringify([...client.channels.keys()]));
    },
    subscribed(name) {
      setStatus($('subscribe-status'), `Subscribed to ${name}.`, 'ok');
      if (!$('pub-channel').value) $('pub-channel').value = name;
    },
    error(text) {
      setStatus($('subscribe-status'), text, 'bad');
    },
  };

  $('subscribe-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $('channel');
    const name = input.value.trim();
    if (!validChannel(name)) {
      ui.error('A channel name is 1..200 of A-Z a-z 0-9 _ - = @ , . ;');
      return;
    }
    if ((isPrivate(name) || isPresence(name)) && !authUrl.value.trim()) {
      $('auth-details').open = true;
      ui.error('Private and presence channels need the authorize endpoint.');
      return;
    }
    setStatus($('subscribe-status'), `Subscribing to ${name}…`);
    client.subscribe(name);
    input.value = '';
  });

  // ---- API key, publish box, live counts -----------------------------------------------------

  const apiKey = { value: store.get('api-key', true) };

  function api(path, options = {}) {
    return fetch(`/console/api/${path}`, {
      ...options,
      cache: 'no-store',
      credentials: 'omit',
      headers: { ...(options.headers || {}), Authorization: `Bearer ${apiKey.value}` },
    });
  }
  async function errorOf(res) {
    try {
      const body = await res.json();
      if (body && typeof body.error === 'string') return body.error;
    } catch (_) {
      /* not JSON */
    }
    return `HTTP ${res.status}`;
  }

  function keyProblem(text) {
    setStatus($('key-status'), text, 'bad');
    $('api-key').setAttribute('aria-invalid', 'true');
  }

  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    apiKey.value = $('api-key').value.trim();
    store.set('api-key', apiKey.value, true);
    $('api-key').removeAttribute('aria-invalid');
    setStatus($('key-status'), apiKey.value ? 'Checking…' : 'No key: publishing and counts are off.', apiKey.value ? '' : 'warn');
    stats.restart();
  });
  $('forget-key').addEventListener('click', () => {
    apiKey.value = '';
    $('api-key').value = '';
    store.set('api-key', '', true);
    setStatus($('key-status'), 'Forgotten.', 'warn');
    stats.restart();
  });

  $('publish-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const status = $('publish-status');
    const channel = $('pub-channel').value.trim();
    const event = $('pub-event').value.trim();
    const data = $('pub-data').value;
    if (!apiKey.value) {
      setStatus(status, 'Enter the API key first (below).', 'bad');
      $('api-key').focus();
      return;
    }
    if (!validChannel(channel)) return setStatus(status, 'Not a channel name.', 'bad');
    if (!event) return setStatus(status, 'The event needs a name.', 'bad');
    const button = $('publish');
    button.disabled = true;
    try {
      const res = await api('publish', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ channel, event, data }),
      });
      if (res.ok) {
        setStatus(status, `Published ${event} to ${channel} at ${clock().slice(0, 8)}.`, 'ok');
      } else {
        const why = await errorOf(res);
        setStatus(status, `${res.status}: ${why}`, 'bad');
        if (res.status === 401) keyProblem(why);
      }
    } catch (_) {
      setStatus(status, 'Cannot reach the server.', 'bad');
    } finally {
      button.disabled = false;
    }
  });
  $('pub-data').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) $('publish-form').requestSubmit();
  });

  const stats = {
    timer: 0,
    generation: 0,
    restart() {
      clearTimeout(this.timer);
      this.generation += 1;
      if (!apiKey.value) {
        this.blank('Enter the API key (the connection\'s secret) to see live counts.', 'warn');
        return;
      }
      this.poll(this.generation);
    },
    blank(text, kind) {
      for (const id of ['stat-connections', 'stat-channels', 'stat-subscriptions']) {
        $(id).textContent = '–';
        $(id).classList.add('none');
      }
      $('channels-body').replaceChildren();
      $('channels-wrap').hidden = true;
      $('counts-updated').textContent = '';
      setStatus($('counts-status'), text, kind);
    },
    async poll(generation) {
      let again = true;
      try {
        const res = await api('stats');
        if (generation !== this.generation) return;
        if (res.ok) {
          this.render(await res.json());
          setStatus($('counts-status'), '');
          if ($('key-status').textContent === 'Checking…') setStatus($('key-status'), 'Key accepted.', 'ok');
        } else {
          const why = await errorOf(res);
          if (res.status === 401) {
            again = false;
            keyProblem(why);
            this.blank(`Counts are off: ${why}.`, 'bad');
          } else {
            setStatus($('counts-status'), `Counts: ${res.status} ${why}`, 'bad');
          }
        }
      } catch (_) {
        if (generation !== this.generation) return;
        setStatus($('counts-status'), 'Cannot reach the server; retrying.', 'bad');
      }
      if (again && generation === this.generation)
        this.timer = setTimeout(() => this.poll(generation), document.hidden ? 10000 : 2000);
    },
    render(s) {
      const channels = Array.isArray(s.channels) ? s.channels : [];
      for (const id of ['stat-connections', 'stat-channels', 'stat-subscriptions']) $(id).classList.remove('none');
      $('channels-wrap').hidden = false;
      $('stat-connections').textContent = String(s.connections ?? '–');
      $('stat-channels').textContent = String(channels.length);
      $('stat-subscriptions').textContent = String(s.subscriptions ?? '–');
      $('counts-updated').textContent = `updated ${clock().slice(0, 8)}`;
      const body = $('channels-body');
      const rows = channels.map((c) => {
        const tr = document.createElement('tr');
        tr.dataset.channel = c.name;
        const name = document.createElement('td');
        name.textContent = c.name;
        const subs = document.createElement('td');
        subs.className = 'r subscribers';
        subs.textContent = String(c.subscriptions);
        const users = document.createElement('td');
        users.className = 'r users';
        users.textContent = c.users === undefined ? '–' : String(c.users);
        tr.append(name, subs, users);
        return tr;
      });
      if (rows.length === 0) {
        const tr = document.createElement('tr');
        const td = document.createElement('td');
        td.colSpan = 3;
        td.className = 'empty-row';
        td.textContent = 'No occupied channels.';
        tr.append(td);
        rows.push(tr);
      }
      body.replaceChildren(...rows);
    },
  };

  // ---- start -------------------------------------------------------------------------------

  $('page-origin').textContent = location.origin;
  authUrl.value = store.get('auth-url') || `${location.protocol}//${location.hostname}:8080/broadcasting/auth`;
  authUrl.addEventListener('change', () => store.set('auth-url', authUrl.value.trim()));
  authToken.value = store.get('auth-token', true);
  authToken.addEventListener('change', () => store.set('auth-token', authToken.value.trim(), true));
  $('api-key').value = apiKey.value;
  $('auth-link').addEventListener('click', () => {
    $('auth-details').open = true;
  });
  $('log-filter').addEventListener('input', (e) => log.setFilter(e.target.value));
  $('pause').addEventListener('click', () => log.togglePause());
  $('clear').addEventListener('click', () => log.clear());
  reconnectButton.addEventListener('click', () => {
    client.attempts = 0;
    client.connect();
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && apiKey.value) stats.restart();
  });

  try {
    const saved = JSON.parse(store.get('channels') || '[]');
    if (Array.isArray(saved)) for (const name of saved) if (typeof name === 'string' && validChannel(name)) client.channels.set(name, { status: 'pending', detail: '' });
  } catch (_) {
    /* ignore a damaged list */
  }
  ui.renderChannels();
  if (!APP_KEY || APP_KEY.startsWith('{{')) {
    client.setState('failed', 'no app key');
    log.add('error', { text: 'this page was not served by a Herald websocket connection' });
  } else {
    log.add('system', { text: `connecting to ${client.url().split('?')[0]}` });
    client.connect();
  }
  stats.restart();
})();
