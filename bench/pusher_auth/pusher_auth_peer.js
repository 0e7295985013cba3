// The peer for bench/pusher_auth: the official npm `pusher` library (pusher-http-node) doing
// the same work as herald_bench_pusher_auth, with the same inputs, one thread.
//
//   NODE_PATH=tests/e2e/node_modules node bench/pusher_auth/pusher_auth_peer.js [--ms N]
//
// guard_private is what an Express-style auth endpoint does with the library: parse the form
// body, authorizeChannel, JSON.stringify the reply.
"use strict"

const querystring = require("querystring")
const Pusher = require("pusher")

const msArg = process.argv.indexOf("--ms")
const ms = msArg > 0 ? Number(process.argv[msArg + 1]) : 1000

const pusher = new Pusher({ appId: "1", key: "278d425bdf160c739803", secret: "7ad3773142a6692b25b8" })
const body =
  '{"name":"order.shipped","channels":["orders.42"],"data":"{\\"id\\":42,\\"status\\":\\"shipped\\"}"}'
let sink = 0

function rate(op) {
  for (let i = 0; i < 1000; ++i) op() // warm-up (and JIT)
  let n = 0
  const start = process.hrtime.bigint()
  const until = start + BigInt(ms) * 1000000n
  let now = start
  while (now < until) {
    for (let i = 0; i < 256; ++i) op()
    n += 256
    now = process.hrtime.bigint()
  }
  return n / (Number(now - start) / 1e9)
}

const realNow = Date.now
Date.now = () => 1700000000 * 1000 // the same auth_timestamp as the C++ side
const results = {
  rest_sign: rate(() => {
    sink += pusher.createSignedQueryString({ method: "POST", path: "/apps/1/events", body }).length
  }),
}
Date.now = realNow
results.private_auth = rate(() => {
  sink += pusher.authorizeChannel("1234.1234", "private-orders.42").auth.length
})
results.presence_auth = rate(() => {
  sink += pusher.authorizeChannel("1234.1234", "presence-room.7", {
    user_id: 42,
    user_info: { name: "Ann", role: "admin" },
  }).auth.length
})
results.user_auth = rate(() => {
  sink += pusher.authenticateUser("1234.1234", { id: "42", user_info: { name: "Ann", role: "admin" } })
    .auth.length
})
const form = "socket_id=1234.1234&channel_name=private-orders.42"
results.guard_private = rate(() => {
  const fields = querystring.parse(form)
  sink += JSON.stringify(pusher.authorizeChannel(fields.socket_id, fields.channel_name)).length
})

for (const [name, value] of Object.entries(results)) console.log(`${name} ${value.toFixed(0)}`)
if (sink === 0) process.exit(1)
