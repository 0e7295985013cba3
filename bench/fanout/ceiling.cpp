// The ceiling of bench/run: the least a WebSocket fan-out server can do on this machine. One
// thread, raw epoll, no library but OpenSSL's SHA-1 for the upgrade.
//
//   ceiling --port P
//
//   GET /ws/CHANNEL (WebSocket upgrade)  the connection becomes a subscriber of CHANNEL
//   POST /pub/CHANNEL (body = data)      builds the frame bytes once (the same JSON the naive
//                                        relay sends: {"event":"message","channel":..,"data":..}),
//                                        appends it to the channel's frames of this loop turn and
//                                        answers 200 "ok".
//
// After each epoll_wait turn, every subscriber of a channel with new frames gets all of them in
// one writev (gathered, the same pre-built bytes for everyone); a short write keeps the rest in a
// per-connection backlog flushed on EPOLLOUT. Nothing else: no per-subscriber work, no parsing
// of client frames (read and discarded), no limits.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

struct Conn {
  int fd = -1;
  bool ws = false;
  std::string in;
  std::string channel;
  size_t slot = 0;      // index in the channel's subscriber vector
  std::string backlog;  // bytes a short write left
  bool want_out = false;
};

struct Channel {
  std::vector<Conn*> subs;
  std::vector<std::string> frames;  // this turn's frames
  bool dirty = false;
};

int g_ep = -1;
std::unordered_map<int, std::unique_ptr<Conn>> g_conns;
std::map<std::string, Channel> g_channels;
std::vector<Channel*> g_dirty;

std::string ws_accept(std::string_view key) {
  std::string in(key);
  in += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(in.data(), in.size(), md, &n, EVP_sha1(), nullptr);
  unsigned char out[64];
  int len = EVP_EncodeBlock(out, md, int(n));
  return std::string(reinterpret_cast<char*>(out), size_t(len));
}

std::string header_value(std::string_view head, std::string_view name) {
  size_t p = 0;
  while ((p = head.find("\r\n", p)) != std::string_view::npos) {
    p += 2;
    if (head.size() - p > name.size() && strncasecmp(head.data() + p, name.data(), name.size()) == 0 &&
        head[p + name.size()] == ':') {
      size_t b = p + name.size() + 1;
      while (b < head.size() && head[b] == ' ') ++b;
      size_t e = head.find("\r\n", b);
      return std::string(head.substr(b, (e == std::string_view::npos ? head.size() : e) - b));
    }
  }
  return {};
}

void set_events(Conn* c, bool out) {
  if (c->want_out == out) return;
  c->want_out = out;
  epoll_event ev{};
  ev.events = EPOLLIN | (out ? EPOLLOUT : 0u);
  ev.data.fd = c->fd;
  epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
}

void close_conn(Conn* c) {
  if (c->ws) {
    auto& subs = g_channels[c->channel].subs;
    Conn* last = subs.back();
    subs[c->slot] = last;
    last->slot = c->slot;
    subs.pop_back();
  }
  ::close(c->fd);
  g_conns.erase(c->fd);
}

// Writes as much of the backlog as the socket takes.
bool flush_backlog(Conn* c) {
  while (!c->backlog.empty()) {
    ssize_t n = ::write(c->fd, c->backlog.data(), c->backlog.size());
    if (n < 0) {
      if (errno == EAGAIN) break;
      return false;
    }
    c->backlog.erase(0, size_t(n));
  }
  set_events(c, !c->backlog.empty());
  return true;
}

void send_small(Conn* c, std::string_view s) {
  if (c->backlog.empty()) {
    ssize_t n = ::write(c->fd, s.data(), s.size());
    if (n == ssize_t(s.size())) return;
    if (n < 0) n = 0;
    s.remove_prefix(size_t(n));
  }
  c->backlog.append(s);
  set_events(c, true);
}

void frame_header(std::string& f, size_t len) {
  f += char(0x81);
  if (len < 126) {
    f += char(len);
  } else if (len < 65536) {
    f += char(126);
    f += char(len >> 8);
    f += char(len & 0xff);
  } else {
    f += char(127);
    for (int i = 7; i >= 0; --i) f += char((std::uint64_t(len) >> (8 * i)) & 0xff);
  }
}

// false when the connection was closed.
bool on_http(Conn* c) {
  for (;;) {
    size_t end = c->in.find("\r\n\r\n");
    if (end == std::string::npos) return true;
    std::string_view head(c->in.data(), end);
    if (head.rfind("GET /ws/", 0) == 0) {
      std::string path(head.substr(4, head.find(' ', 4) - 4));
      std::string key = header_value(head, "Sec-WebSocket-Key");
      std::string resp = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Accept: " + ws_accept(key) + "\r\n\r\n";
      c->in.clear();
      c->ws = true;
      c->channel = path.substr(4);
      auto& subs = g_channels[c->channel].subs;
      c->slot = subs.size();
      subs.push_back(c);
      send_small(c, resp);
      return true;
    }
    if (head.rfind("POST /pub/", 0) == 0) {
      size_t len = std::strtoul(header_value(head, "Content-Length").c_str(), nullptr, 10);
      if (c->in.size() < end + 4 + len) return true;
      std::string channel(head.substr(10, head.find(' ', 10) - 10));
      std::string_view body(c->in.data() + end + 4, len);
      std::string json = R"({"event":"message","channel":")" + channel + R"(","data":")" + std::string(body) + "\"}";
      std::string frame;
      frame.reserve(json.size() + 10);
      frame_header(frame, json.size());
      frame += json;
      auto it = g_channels.find(channel);
      if (it != g_channels.end() && !it->second.subs.empty()) {
        it->second.frames.push_back(std::move(frame));
        if (!it->second.dirty) {
          it->second.dirty = true;
          g_dirty.push_back(&it->second);
        }
      }
      c->in.erase(0, end + 4 + len);
      send_small(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok");
      continue;
    }
    send_small(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    close_conn(c);
    return false;
  }
}

// One gathered write of this turn's frames to every subscriber of every dirty channel.
void fan_out() {
  std::vector<iovec> iov;
  for (Channel* ch : g_dirty) {
    iov.clear();
    size_t total = 0;
    for (auto& f : ch->frames) {
      iov.push_back({f.data(), f.size()});
      total += f.size();
    }
    std::vector<Conn*> dead;
    for (Conn* c : ch->subs) {
      if (!c->backlog.empty()) {
        for (auto& f : ch->frames) c->backlog += f;
        continue;
      }
      size_t done = 0;
      for (size_t start = 0; start < iov.size() && done < total;) {
        ssize_t n = ::writev(c->fd, iov.data() + start, int(std::min<size_t>(iov.size() - start, IOV_MAX)));
        if (n < 0) {
          if (errno != EAGAIN) dead.push_back(c);
          break;
        }
        done += size_t(n);
        // Skip the iovecs written whole; a partial one goes to the backlog below.
        size_t acc = 0, i = 0;
        for (; i < iov.size() && acc + iov[i].iov_len <= done; ++i) acc += iov[i].iov_len;
        start = i;
        if (n == 0 || (i < iov.size() && acc < done)) break;
      }
      if (done < total) {
        size_t acc = 0;
        for (auto& f : ch->frames) {
          if (acc + f.size() > done) c->backlog.append(f, done > acc ? done - acc : 0);
          acc += f.size();
        }
        set_events(c, true);
      }
    }
    for (Conn* c : dead) close_conn(c);
    ch->frames.clear();
    ch->dirty = false;
  }
  g_dirty.clear();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || std::string(argv[1]) != "--port") {
    std::fprintf(stderr, "usage: ceiling --port P\n");
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(std::uint16_t(std::atoi(argv[2])));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(lfd, 4096) != 0) {
    std::perror("ceiling: bind/listen");
    return 1;
  }
  g_ep = epoll_create1(0);
  epoll_event lev{};
  lev.events = EPOLLIN;
  lev.data.fd = lfd;
  epoll_ctl(g_ep, EPOLL_CTL_ADD, lfd, &lev);
  std::fprintf(stderr, "ceiling listening on 127.0.0.1:%s\n", argv[2]);
  std::vector<epoll_event> evs(1024);
  char buf[65536];
  for (;;) {
    int n = epoll_wait(g_ep, evs.data(), int(evs.size()), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      int fd = evs[size_t(i)].data.fd;
      if (fd == lfd) {
        for (;;) {
          int cfd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK);
          if (cfd < 0) break;
          setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          auto c = std::make_unique<Conn>();
          c->fd = cfd;
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.fd = cfd;
          epoll_ctl(g_ep, EPOLL_CTL_ADD, cfd, &ev);
          g_conns[cfd] = std::move(c);
        }
        continue;
      }
      auto it = g_conns.find(fd);
      if (it == g_conns.end()) continue;
      Conn* c = it->second.get();
      if (evs[size_t(i)].events & EPOLLOUT) {
        if (!flush_backlog(c)) {
          close_conn(c);
          continue;
        }
      }
      if (evs[size_t(i)].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        bool closed = false;
        for (;;) {
          ssize_t r = ::read(fd, buf, sizeof buf);
          if (r > 0) {
            if (!c->ws) c->in.append(buf, size_t(r));
            continue;
          }
          if (r < 0 && errno == EAGAIN) break;
          close_conn(c);
          closed = true;
          break;
        }
        if (!closed && !c->ws) on_http(c);
      }
    }
    fan_out();
  }
}
